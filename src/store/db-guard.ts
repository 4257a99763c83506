import { statSync } from "node:fs";
import type { Knex } from "@mikro-orm/knex";
import { UnavailableError } from "../domain/errors.js";
import type { TaskStore } from "../domain/ports.js";
import type { Dialect } from "./orm.js";
import type { SqliteWriter } from "./sqlite-writer.js";

/** Options of createDbGuard. */
export interface DbGuardOptions {
  /** The configured database: a SQLite path (watched) or a postgres:// URL (not a file). */
  readonly db: string;
  readonly dialect: Dialect;
  /** The store's connection pool, for the probe write while commits fail. */
  readonly knex: Knex;
  /** A SQLite file's writer thread (orm.ts): when there is one, the probe writes through it, as commits do. */
  readonly writer?: SqliteWriter | null;
  /**
   * How often the files at the configured path are compared with the open ones, and a
   * failing database is probed, in ms.
   * @default 500
   */
  readonly checkMs?: number;
  /**
   * A write still not committed after this long marks the database unwritable (a frozen or
   * hung filesystem blocks instead of failing), in ms.
   * @default 10000
   */
  readonly stallMs?: number;
}

/** Watches that the database the server writes is the one at the configured path, and writable. */
export interface DbGuard {
  /**
   * For the store, after each COMMIT and before the cache, the listeners and the callers
   * follow: throws an UnavailableError if the file at the path is no longer the open one,
   * so no write into a deleted or replaced file is ever acknowledged.
   */
  verifyCommit(): void;
  /** The store with mutate refused once the file is lost, and timed to spot stalled commits. */
  guard<S extends TaskStore>(store: S): S;
  /** A batch failed to commit: unless it was a write conflict, the database is unwritable. */
  commitFailed(err: unknown): void;
  /** A batch committed: commits work (again). */
  commitSucceeded(): void;
  /** Why writes cannot commit now, or null while they can. */
  readonly problem: string | null;
  /** Told each time `problem` changes. */
  onProblem(listener: (problem: string | null) => void): void;
  /**
   * Told once, when the file at the path is found deleted or replaced, or the SQLite writer
   * thread ended: the process should exit.
   */
  onLost(listener: (reason: string) => void): void;
  /** Stops the timers. */
  close(): void;
}

interface Identity {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/**
 * SQLite keeps writing into an unlinked inode without an error, so a database deleted or
 * renamed over under a running server would take every acknowledged write with it. The
 * guard records the device and inode of the database, its -wal file and the lock file when
 * the store opens, compares them with what the path names on every commit and every
 * `checkMs`, and reports the first difference as lost (terminal). Separately it tracks
 * whether commits succeed: a failed batch (disk full, read-only, I/O error) or one that
 * does not finish (fsfreeze) sets `problem` until a batch or a probe write commits again.
 */
export function createDbGuard(options: DbGuardOptions): DbGuard {
  const checkMs = options.checkMs ?? 500;
  const stallMs = options.stallMs ?? 10_000;
  const isFile = options.dialect === "sqlite" && options.db !== ":memory:" && !options.db.startsWith("file:");
  const files: Identity[] = isFile ? [options.db, `${options.db}-wal`, `${options.db}.lock`].flatMap(identity) : [];
  const problemListeners: ((p: string | null) => void)[] = [];
  const lostListeners: ((reason: string) => void)[] = [];
  let problem: string | null = null;
  let lost: string | null = null;
  let probing = false;
  // Start times of the writes not settled yet, oldest at `settledCount`: the store's writes
  // settle in the order they were submitted (batches take the queue in order and commit one
  // at a time), so settling one moves the head on; no entry or `finally` promise per write.
  let starts: number[] = [];
  let settledCount = 0;
  const settled = (): void => {
    settledCount++;
    // Drop the settled front now and then (writes never all settle in a busy server).
    if (settledCount >= 1024 && settledCount * 2 >= starts.length) {
      starts = starts.slice(settledCount);
      settledCount = 0;
    }
  };

  function setProblem(p: string | null): void {
    if (p === problem || (lost !== null && p !== lost)) return;
    problem = p;
    for (const l of problemListeners) l(p);
  }

  /** The first file whose path no longer names the inode that was opened, as a sentence. */
  function changedFile(which: readonly Identity[]): string | null {
    for (const f of which) {
      let now: { dev: number; ino: number } | null;
      try {
        now = statSync(f.path);
      } catch {
        now = null;
      }
      if (now === null) return `the database file ${f.path} was deleted under the running server`;
      if (now.dev !== f.dev || now.ino !== f.ino) {
        return `the database file ${f.path} was replaced (renamed over or restored) under the running server`;
      }
    }
    return null;
  }

  /** Terminal: `reason` says what happened and that the server acknowledges no write and stops. */
  function markLost(reason: string): void {
    if (lost !== null) return;
    lost = reason;
    clearInterval(timer);
    setProblem(lost);
    for (const l of lostListeners) l(lost);
  }

  const commitFiles = files.filter((f) => !f.path.endsWith(".lock"));
  function verify(which: readonly Identity[]): void {
    if (lost === null) {
      const what = changedFile(which);
      if (what) markLost(`${what}: writes since then cannot be kept, so none is acknowledged and the server stops`);
    }
    if (lost !== null) throw new UnavailableError(lost, "STORE_UNAVAILABLE");
  }

  async function probe(): Promise<void> {
    if (probing) return;
    probing = true;
    try {
      if (options.dialect === "sqlite") {
        // Rewrites the header's user_version with its own value: a real commit that changes nothing.
        const rows = (await options.knex.raw("PRAGMA user_version")) as { user_version: number }[];
        const rewrite = `PRAGMA user_version = ${Number(rows[0]?.user_version ?? 0)}`;
        if (options.writer) await options.writer.transaction([{ sql: rewrite, params: [] }]);
        else await options.knex.raw(rewrite);
      } else {
        // Assigning a transaction id makes the commit write WAL: a read-only server refuses it.
        await options.knex.transaction((trx) => trx.raw("select txid_current()"));
      }
      commitSucceeded();
    } catch {
      // Still failing: the problem stays; the next tick probes again.
    } finally {
      probing = false;
    }
  }

  function commitSucceeded(): void {
    if (problem !== null && lost === null) setProblem(null);
  }

  const timer = setInterval(() => {
    try {
      if (files.length > 0) verify(files);
    } catch {
      return; // lost: reported through onLost
    }
    const oldest = settledCount < starts.length ? starts[settledCount] : undefined;
    if (oldest !== undefined && Date.now() - oldest > stallMs) {
      setProblem(`a write has not committed for ${Date.now() - oldest} ms (the database's file system blocks or hangs)`);
    } else if (problem !== null && oldest === undefined) {
      void probe();
    }
  }, checkMs);
  timer.unref();

  // The one write connection is gone, and with it what the server knew of the database: the
  // commit it was running may have been kept or not, so the cache and the next sequence may
  // be wrong. Stop, and let the restart read what was committed.
  options.writer?.onEnded((why) =>
    markLost(`${why} under the running server: the outcome of its last commit is unknown, so no write is acknowledged from now on and the server stops (a restart reads what was committed)`),
  );

  return {
    verifyCommit() {
      if (commitFiles.length > 0 || lost !== null) verify(commitFiles);
    },
    guard(store) {
      const mutate = store.mutate.bind(store);
      return {
        ...store,
        mutate(mutation) {
          if (lost !== null) return Promise.reject(new UnavailableError(lost, "STORE_UNAVAILABLE"));
          starts.push(Date.now());
          const committed = mutate(mutation);
          committed.then(settled, settled);
          return committed;
        },
      };
    },
    commitFailed(err) {
      if (lost !== null || isConflict(err)) return;
      const code = String((err as { code?: unknown })?.code ?? "error");
      setProblem(`the database cannot commit (${code}): the disk may be full, read-only or failing`);
    },
    commitSucceeded,
    get problem() {
      return problem;
    },
    onProblem(listener) {
      problemListeners.push(listener);
    },
    onLost(listener) {
      lostListeners.push(listener);
    },
    close() {
      clearInterval(timer);
    },
  };
}

function identity(path: string): Identity[] {
  try {
    const s = statSync(path);
    return [{ path, dev: s.dev, ino: s.ino }];
  } catch {
    return []; // not there at open (no WAL yet): nothing to compare with
  }
}

/** Another writer changed a row first (unique key, serialization): not the database's health. */
function isConflict(err: unknown): boolean {
  const text = String((err as { code?: unknown })?.code ?? "") + String((err as Error)?.message ?? "");
  return /23505|SQLITE_CONSTRAINT|UNIQUE constraint|40001|40P01|changed under the batch/.test(text);
}
