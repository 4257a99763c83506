import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import sqlite3 from "sqlite3";
import { openDatabase } from "../../src/store/orm.js";
import { sqliteDialect } from "../../src/store/sqlite-dialect.js";
import { cacheStatements, type SqliteDatabase } from "../../src/store/sqlite-statements.js";

function all(db: SqliteDatabase, sql: string, params?: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
}

describe("the SQLite connection's prepared statements (sqlite-statements.ts)", () => {
  it("prepares a statement once and runs it again with new bindings", async () => {
    const raw = new sqlite3.Database(":memory:");
    const prepare = raw.prepare.bind(raw);
    let prepared = 0;
    (raw as unknown as { prepare: typeof prepare }).prepare = ((sql: string, cb: (err: Error | null) => void) => {
      prepared++;
      return prepare(sql, cb);
    }) as typeof prepare;
    const db = raw as unknown as SqliteDatabase;
    cacheStatements(db);
    await all(db, "create table t (a integer primary key, b text)");
    for (const b of ["x", "y", "z"]) await all(db, "insert into t (b) values (?)", [b]);
    assert.deepEqual(await all(db, "select b from t where a > ? order by a", [1]), [{ b: "y" }, { b: "z" }]);
    assert.deepEqual(await all(db, "select b from t where a > ? order by a", [2]), [{ b: "z" }]);
    // BEGIN and COMMIT come from knex without bindings.
    await all(db, "BEGIN;");
    await all(db, "insert into t (b) values (?)", ["w"]);
    await all(db, "COMMIT;");
    assert.deepEqual(await all(db, "select count(*) as n from t"), [{ n: 4 }]);
    // create, insert, select, BEGIN, COMMIT, count: each text prepared once.
    assert.equal(prepared, 6);
    // The same text twice at once: both answered, each with its own bindings.
    const [a, b] = await Promise.all([all(db, "select b from t where a = ?", [1]), all(db, "select b from t where a = ?", [2])]);
    assert.deepEqual([a, b], [[{ b: "x" }], [{ b: "y" }]]);
    await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  });

  it("answers a statement that does not prepare, and one that fails, with their errors", async () => {
    const db = new sqlite3.Database(":memory:") as unknown as SqliteDatabase;
    cacheStatements(db);
    await all(db, "create table t (a integer primary key)");
    for (let i = 0; i < 2; i++) await assert.rejects(all(db, "selec 1"), /syntax error/);
    await all(db, "insert into t (a) values (?)", [1]);
    await assert.rejects(all(db, "insert into t (a) values (?)", [1]), /UNIQUE constraint/);
    await all(db, "insert into t (a) values (?)", [2]);
    assert.deepEqual(await all(db, "select a from t order by a"), [{ a: 1 }, { a: 2 }]);
    await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  });
});

describe("SQLite's batch transaction (sqliteDialect.transaction)", () => {
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-sqlite-trx-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("commits what the work wrote, keeps nothing of work that threw, and frees the connection", async () => {
    const db = await openDatabase({ db: join(dir, "t.sqlite"), durability: "normal" });
    try {
      const { knex } = db;
      await knex.raw("create table probe (a integer primary key, b text)");
      await sqliteDialect.transaction(knex, async (trx) => {
        await sqliteDialect.execute(trx, "insert into probe (a, b) values (?, ?)", [1, "kept"]);
        await trx("probe").insert({ a: 2, b: "kept too" });
      });
      await assert.rejects(
        sqliteDialect.transaction(knex, async (trx) => {
          await sqliteDialect.execute(trx, "insert into probe (a, b) values (?, ?)", [3, "dropped"]);
          throw new Error("boom");
        }),
        /boom/,
      );
      // A failing statement inside: rolled back too.
      await assert.rejects(
        sqliteDialect.transaction(knex, async (trx) => {
          await sqliteDialect.execute(trx, "insert into probe (a, b) values (?, ?)", [4, "dropped"]);
          await sqliteDialect.execute(trx, "insert into probe (a, b) values (?, ?)", [1, "duplicate"]);
        }),
        /UNIQUE constraint/,
      );
      assert.deepEqual(await knex("probe").select("a", "b").orderBy("a"), [
        { a: 1, b: "kept" },
        { a: 2, b: "kept too" },
      ]);
    } finally {
      await db.close();
    }
  });
});
