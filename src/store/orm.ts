import type { MikroORM } from "@mikro-orm/core";
import { Migrator } from "@mikro-orm/migrations";
import type { Knex } from "@mikro-orm/knex";
import { ENTITIES } from "./schema.js";
import { MIGRATIONS } from "./migrations/index.js";
import { cacheStatements, type SqliteDatabase } from "./sqlite-statements.js";
import { acquireSqliteLock, openFailure, type SqliteLock } from "./sqlite-lock.js";
import { type SqliteWriter, startSqliteWriter } from "./sqlite-writer.js";

/** Which database engine a connection string selects. */
export type Dialect = "sqlite" | "postgresql";

/** How hard SQLite syncs: normal survives process crashes, full also survives power loss. */
export type Durability = "normal" | "full";

/** An open, migrated database. */
export interface OpenDatabase {
  readonly orm: MikroORM;
  readonly dialect: Dialect;
  /** The ORM's own knex instance, used by the batch writer for multi-row statements. */
  readonly knex: Knex;
  /**
   * A SQLite file's one write connection (sqlite-writer.ts): the store's commits, purges and
   * trims go through it. Null on PostgreSQL and for SQLite databases that are not a plain
   * file (":memory:", "file:" URIs), which the ORM's one connection writes.
   */
  readonly writer: SqliteWriter | null;
  close(): Promise<void>;
}

/** `postgres://…` / `postgresql://…` select PostgreSQL; anything else is a SQLite file path. */
export function dialectOf(db: string): Dialect {
  return /^postgres(ql)?:\/\//.test(db) ? "postgresql" : "sqlite";
}

/**
 * Opens the database through MikroORM and applies the committed migrations (never a schema
 * diff at boot). SQLite runs in WAL mode with synchronous NORMAL (or FULL), and only in the
 * one process holding its lock file (`<db>.lock`, see sqlite-lock.ts) from open to close.
 */
export async function openDatabase(options: { db: string; durability: Durability }): Promise<OpenDatabase> {
  const dialect = dialectOf(options.db);
  const common = {
    entities: ENTITIES,
    extensions: [Migrator],
    migrations: { migrationsList: MIGRATIONS[dialect], transactional: true, allOrNothing: true, snapshot: false, silent: true },
    discovery: { warnWhenNoEntities: false },
    debug: false,
    allowGlobalContext: false,
  };
  let orm: MikroORM;
  let lock: SqliteLock | null = null;
  if (dialect === "sqlite") {
    const { MikroORM: SqliteORM } = await import("@mikro-orm/sqlite");
    const synchronous = options.durability === "full" ? "FULL" : "NORMAL";
    // Before anything touches the database: a second server must not even run migrations.
    if (options.db !== ":memory:" && !options.db.startsWith("file:")) lock = await acquireSqliteLock(options.db);
    orm = await SqliteORM.init({
      ...common,
      dbName: options.db,
      pool: {
        min: 1,
        max: 1,
        // One connection: SQLite has one writer anyway, and the pragmas are per connection.
        afterCreate(conn: SqliteDatabase & { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
          cacheStatements(conn);
          conn.exec(
            // temp_store as on the writer thread (sqlite-writer-worker.ts): where this connection
            // writes (no writer thread: ":memory:", "file:" URIs) its statement journals stay in memory.
            `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;`,
            (err) => done(err, conn),
          );
        },
      },
    }).catch(async (err: unknown) => {
      await lock?.release();
      throw openFailure(options.db, err);
    });
  } else {
    const { MikroORM: PostgresORM } = await import("@mikro-orm/postgresql");
    orm = await PostgresORM.init({
      ...common,
      clientUrl: options.db,
      pool: {
        min: 1,
        max: 10,
        // A replica that stops mid-transaction (frozen, or cut off without the TCP close
        // reaching the server) would hold the commit lock of every replica; this bounds it.
        afterCreate(conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
          conn.query("set idle_in_transaction_session_timeout = 10000", (err) => done(err, conn));
        },
      },
    });
  }
  try {
    if (dialect === "postgresql") await migrateLocked(orm, options.db);
    else await orm.getMigrator().up();
  } catch (err) {
    await orm.close(true);
    await lock?.release();
    throw dialect === "sqlite" ? openFailure(options.db, err) : err;
  }
  let writer: SqliteWriter | null = null;
  if (lock) {
    writer = await startSqliteWriter({ path: options.db, synchronous: options.durability === "full" ? "FULL" : "NORMAL" }).catch(async (err: unknown) => {
      await orm.close(true);
      await lock?.release();
      throw openFailure(options.db, err);
    });
  }
  const knex = (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  return {
    orm,
    dialect,
    knex,
    writer,
    async close() {
      await writer?.close();
      await orm.close(true);
      await lock?.release();
    },
  };
}

/**
 * Replicas usually start together: the migrator's own bookkeeping (create its table, read
 * it, apply) is not safe against a second migrator at the same time, so they take turns
 * under a session advisory lock on a connection of their own.
 */
async function migrateLocked(orm: MikroORM, url: string): Promise<void> {
  const { default: pg } = await import("pg");
  const lock = new pg.Client({ connectionString: url, application_name: "taskcontrol-migrate" });
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock(7215002)");
    await orm.getMigrator().up();
  } finally {
    await lock.end().catch(() => undefined);
  }
}
