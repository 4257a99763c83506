import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import sqlite3 from "sqlite3";

/**
 * The database cannot be used by this process (held by another one, or not openable where it
 * is). Its message is the one line main prints; main exits 1.
 */
export class DatabaseStartupError extends Error {
  override readonly name = "DatabaseStartupError";
}

/** The guard that makes this process the only server on a SQLite file. */
export interface SqliteLock {
  /** The sidecar file the lock is held on (`<db>.lock`). */
  readonly path: string;
  /** Ends the lock's transaction and closes its connection. */
  release(): Promise<void>;
}

/**
 * Takes the one-server-per-file guard before the database is opened: a dedicated sqlite3
 * connection on `<db>.lock` that stays inside `BEGIN EXCLUSIVE` for the life of the process.
 * The lock is SQLite's POSIX record lock, which the kernel drops when the process ends in any
 * way (kill -9 included), so a crashed server never leaves a stale guard behind, and unlike
 * `locking_mode=EXCLUSIVE` on the database itself it leaves the database readable by other
 * tools (the sqlite3 shell, backups) while the server runs.
 */
export async function acquireSqliteLock(db: string): Promise<SqliteLock> {
  const path = `${db}.lock`;
  try {
    mkdirSync(dirname(resolve(db)), { recursive: true });
  } catch (err) {
    throw openFailure(db, err);
  }
  const conn = await new Promise<sqlite3.Database>((ok, fail) => {
    const c: sqlite3.Database = new sqlite3.Database(path, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE, (err) =>
      err ? fail(openFailure(db, err)) : ok(c),
    );
  });
  const exec = (sql: string) => new Promise<void>((ok, fail) => conn.exec(sql, (err) => (err ? fail(err) : ok())));
  try {
    // busy_timeout 0: a held lock is an answer, not something to wait for.
    await exec("PRAGMA busy_timeout = 0; BEGIN EXCLUSIVE");
  } catch (err) {
    await new Promise<void>((ok) => conn.close(() => ok()));
    if ((err as { code?: string }).code === "SQLITE_BUSY" || (err as { code?: string }).code === "SQLITE_LOCKED") {
      const pid = lockHolder(path);
      throw new DatabaseStartupError(
        `the database ${db} is in use by ${pid === null ? "another process" : `process ${pid}`}`,
      );
    }
    throw openFailure(db, err);
  }
  let released: Promise<void> | undefined;
  return {
    path,
    release() {
      released ??= new Promise<void>((ok) => conn.exec("ROLLBACK", () => conn.close(() => ok())));
      return released;
    },
  };
}

/**
 * The process holding a POSIX lock on `path`, from /proc/locks (Linux): its lines read
 * `1: POSIX  ADVISORY  WRITE 4242 00:2f:1234 1073741824 1073742335`, keyed by inode.
 */
function lockHolder(path: string): number | null {
  try {
    const { ino, dev } = statSync(path);
    // Linux's dev_t encoding, as /proc/locks prints it (hex major:minor).
    const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      // "->" marks a waiter, not a holder.
      if (f[1] !== "POSIX" || f.includes("->")) continue;
      const id = f[5]?.split(":");
      if (id && Number(id[2]) === ino && parseInt(id[0]!, 16) === major && parseInt(id[1]!, 16) === minor) {
        return Number(f[4]);
      }
    }
  } catch {
    // Not Linux, or the holder is gone meanwhile: the message says "another process".
  }
  return null;
}

/**
 * Turns a failure to create or open the database (SQLITE_CANTOPEN, EACCES, EROFS…) into one
 * line saying what, where and what to do; anything else passes through unchanged.
 */
export function openFailure(db: string, err: unknown): unknown {
  const code = String((err as { code?: unknown })?.code ?? "");
  if (!/^(SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_PERM|SQLITE_NOTADB|EACCES|EPERM|EROFS|ENOENT|ENOTDIR|EISDIR)$/.test(code)) {
    return err;
  }
  const dir = dirname(resolve(db));
  let why: string;
  if (code === "SQLITE_NOTADB") why = "the file is not a SQLite database";
  else if (!existsSync(dir)) why = `its directory ${dir} does not exist and cannot be created (${code})`;
  else if (!writable(dir) || code === "EROFS" || code === "SQLITE_READONLY") {
    why = `its directory ${dir} is not writable (read-only file system or permissions)`;
  } else why = `SQLite cannot open it (${code})`;
  return new DatabaseStartupError(
    `cannot open the database ${db}: ${why}; the server creates ${db}, ${db}-wal, ${db}-shm and ${db}.lock there, ` +
      `so give --db a file in a writable directory`,
  );
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    // Root passes access(2) on a read-only mount: statfs is not in node:fs, so probe the flag.
    return !readOnlyMount(dir);
  } catch {
    return false;
  }
}

/** True when `dir` is on a filesystem mounted read-only (per /proc/self/mountinfo). */
function readOnlyMount(dir: string): boolean {
  try {
    let best = "";
    let ro = false;
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const f = line.split(" ");
      const point = f[4];
      if (!point || !(dir === point || dir.startsWith(point.endsWith("/") ? point : `${point}/`))) continue;
      if (point.length >= best.length) {
        best = point;
        ro = (f[5] ?? "").split(",").includes("ro");
      }
    }
    return ro;
  } catch {
    return false;
  }
}
