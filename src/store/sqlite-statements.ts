/** A sqlite3 prepared statement, as much of it as the cache uses. */
interface Statement {
  all(params: unknown[], callback: (this: unknown, err: Error | null, rows: unknown[]) => void): unknown;
  finalize(callback?: (err: Error | null) => void): unknown;
}

/** The sqlite3 driver's Database, as much of it as the cache patches. */
export interface SqliteDatabase {
  all(sql: string, params: unknown, callback: (this: unknown, err: Error | null, rows: unknown[]) => void): unknown;
  prepare(sql: string, callback: (err: Error | null) => void): Statement;
  close(callback?: (err: Error | null) => void): unknown;
}

/** Statements kept prepared per connection (least recently used goes first). */
const CAPACITY = 128;
/** Longer statements (the multi-row ones of a batch under load) are prepared each time. */
const MAX_SQL = 4096;

/**
 * Keeps the connection's short statements prepared: sqlite3's `Database#all` prepares,
 * runs and finalizes each statement, and prepare and run are two trips through libuv's
 * thread pool. A lone UpdateProgress runs BEGIN, an UPDATE, an INSERT and COMMIT (the
 * same four texts every time), so with the cache it waits for four trips instead of eight,
 * which is most of its latency when the cores are busy (profiled: the server sits idle
 * while the call waits). A statement in use by an earlier call still running is not
 * shared: that call's twin takes the uncached path. Statements are finalized before the
 * connection closes (sqlite3 refuses to close with unfinalized statements).
 */
export function cacheStatements(db: SqliteDatabase): void {
  const uncached = db.all.bind(db);
  const close = db.close.bind(db);
  const cache = new Map<string, { stmt: Statement; busy: boolean }>();

  db.all = function (sql, params, callback) {
    // knex sends no bindings (undefined) with BEGIN and COMMIT.
    if (params === undefined) params = [];
    if (typeof sql !== "string" || sql.length > MAX_SQL || !Array.isArray(params)) return uncached(sql, params, callback);
    const hit = cache.get(sql);
    if (hit?.busy) return uncached(sql, params, callback);
    const bound = params;
    const run = (entry: { stmt: Statement; busy: boolean }) =>
      entry.stmt.all(bound, function (this: unknown, err, rows) {
        entry.busy = false;
        callback.call(this, err, rows);
      });
    if (hit) {
      // Most recently used last.
      cache.delete(sql);
      cache.set(sql, hit);
      hit.busy = true;
      return run(hit);
    }
    const entry = { stmt: null as unknown as Statement, busy: true };
    entry.stmt = db.prepare(sql, (err) => {
      if (!err) return run(entry);
      // sqlite3 answers nothing queued on a statement that did not prepare: answer here.
      if (cache.get(sql) === entry) cache.delete(sql);
      callback.call(entry.stmt, err, []);
    });
    cache.set(sql, entry);
    if (cache.size > CAPACITY) evictOldest();
    return db;
  };

  function evictOldest(): void {
    for (const [sql, entry] of cache) {
      if (entry.busy) continue;
      cache.delete(sql);
      entry.stmt.finalize();
      return;
    }
  }

  db.close = function (callback) {
    for (const entry of cache.values()) entry.stmt.finalize();
    cache.clear();
    return close(callback);
  };
}
