import pg from "pg";
import sqlite3 from "sqlite3";

/**
 * Reads one row through a separate connection, whatever the dialect: what is committed, not
 * what the server caches. PostgreSQL answers bigint columns as strings; compare with Number().
 */
export async function committedRow(db: string, table: "tasks" | "confirmations", id: string): Promise<Record<string, unknown> | undefined> {
  if (/^postgres(ql)?:\/\//.test(db)) {
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      const res = await client.query(`select * from ${table} where id = $1`, [id]);
      return res.rows[0] as Record<string, unknown> | undefined;
    } finally {
      await client.end();
    }
  }
  return new Promise((resolve, reject) => {
    const conn = new sqlite3.Database(db, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      conn.get(`select * from ${table} where id = ?`, [id], (e, row) => {
        conn.close();
        e ? reject(e) : resolve(row as Record<string, unknown> | undefined);
      });
    });
  });
}
