import { Worker } from "node:worker_threads";

/** One statement of a writer transaction. */
export interface WriterOp {
  readonly sql: string;
  readonly params: unknown[];
  /**
   * Rows a RETURNING statement must answer (or rows a plain one must change); any other
   * count rolls the whole transaction back and the call rejects with a WriterConflict.
   */
  readonly expect?: number;
  /** The WriterConflict's message when `expect` misses. */
  readonly conflict?: string;
}

/** What the worker is started with. */
export interface WriterSetup {
  readonly path: string;
  readonly synchronous: "NORMAL" | "FULL";
}

/** A message to the worker: a transaction, or close. */
export type WriterRequest = { readonly id: number; readonly ops: readonly WriterOp[]; readonly close?: false } | { readonly id: number; readonly close: true };

/** What a committed writer transaction answers, per statement in order. */
export interface WriterResult {
  /** The rows a statement answered (RETURNING; none for a plain write). */
  readonly rows: unknown[][];
  /** The rows a statement answered, or changed when it answers none. */
  readonly counts: number[];
}

/** The worker's answer: what the transaction's statements answered, or why it rolled back. */
export type WriterAnswer =
  | { readonly id: number; readonly ok: true; readonly result: WriterResult }
  | { readonly id: number; readonly ok: false; readonly conflict: boolean; readonly message: string; readonly code?: string };

/** A guard of a writer transaction missed: nothing of it was kept. */
export class WriterConflict extends Error {}

/** The database's one write connection, on a thread of its own. */
export interface SqliteWriter {
  /**
   * BEGIN IMMEDIATE, each statement in order, COMMIT, in one trip to the writer thread;
   * answers each statement's rows and count. Nothing is kept if it rejects.
   */
  transaction(ops: readonly WriterOp[]): Promise<WriterResult>;
  /** Answers the transactions already posted, then closes the connection and ends the thread. */
  close(): Promise<void>;
  /**
   * Told once if the thread ends before close() (an uncaught error in it, or it was
   * terminated), with why. The transactions it had not answered reject, but one of them may
   * have committed: the caller must treat the database's state as unknown from then on.
   */
  onEnded(listener: (reason: string) => void): void;
}

/**
 * Starts the writer thread on the SQLite file `path` (already created and migrated). The
 * thread opens its own better-sqlite3 connection, keeps the statements prepared, and runs
 * each posted transaction synchronously, so a batch's BEGIN, statements and COMMIT (and the
 * commit's fsync with durability full) cost the event loop one message each way instead of
 * a libuv trip per statement. Reads stay on the ORM's connection: in WAL mode they see each
 * commit as soon as it returns.
 */
export async function startSqliteWriter(setup: WriterSetup): Promise<SqliteWriter> {
  const worker = spawn(setup);
  const waiting = new Map<number, { resolve(result: WriterResult): void; reject(err: unknown): void }>();
  let nextId = 0;
  let failure: Error | null = null;
  let closing: Promise<void> | null = null;
  const endedListeners: ((reason: string) => void)[] = [];

  function failAll(err: Error): void {
    const first = failure === null;
    failure ??= err;
    // Listeners first: the callers rejected below then already find the store stopped.
    if (first && !closing) for (const l of endedListeners) l(failure.message);
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
  }

  worker.on("message", (answer: WriterAnswer) => {
    const w = waiting.get(answer.id);
    if (!w) return;
    waiting.delete(answer.id);
    if (answer.ok) return w.resolve(answer.result);
    const err = answer.conflict ? new WriterConflict(answer.message) : Object.assign(new Error(answer.message), { code: answer.code });
    w.reject(err);
  });
  worker.on("error", (err) => failAll(Object.assign(new Error(`the SQLite writer thread failed: ${err.message}`), { code: "SQLITE_WRITER_FAILED", cause: err })));
  worker.on("exit", (code) => failAll(Object.assign(new Error(`the SQLite writer thread exited (${code})`), { code: "SQLITE_WRITER_EXITED" })));

  function post(request: { ops: readonly WriterOp[] } | { close: true }): Promise<WriterResult> {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...request });
    });
  }

  // The first answer proves the connection opened (a bad path rejects here).
  await post({ ops: [] }).catch(async (err) => {
    await worker.terminate();
    throw err;
  });

  return {
    transaction: (ops) => (closing ? Promise.reject(Object.assign(new Error("the SQLite writer is closed"), { code: "SQLITE_WRITER_CLOSED" })) : post({ ops })),
    close() {
      closing ??= post({ close: true })
        .catch(() => undefined)
        .then(() => worker.terminate())
        .then(() => undefined);
      return closing;
    },
    onEnded(listener) {
      endedListeners.push(listener);
    },
  };
}

/**
 * The thread's young generation stays small. Its garbage is one message a batch, so a
 * scavenge of 2 MiB costs it little. Left to grow (V8 doubles it under a burst and keeps it),
 * the young generation went from 1 to 8 MiB during 10,000 RequestConfirmation calls in 4 s,
 * and stayed there.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 3 };

function spawn(setup: WriterSetup): Worker {
  // Under tsx (tests, benches) the worker is a .ts file and needs tsx's loader in its thread too.
  if (import.meta.url.endsWith(".ts")) {
    const url = new URL("./sqlite-writer-worker.ts", import.meta.url).href;
    const tsx = import.meta.resolve("tsx/esm/api");
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
    return new Worker(code, { eval: true, workerData: setup, resourceLimits: RESOURCE_LIMITS });
  }
  return new Worker(new URL("./sqlite-writer-worker.js", import.meta.url), { workerData: setup, resourceLimits: RESOURCE_LIMITS });
}
