import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { WriterAnswer, WriterOp, WriterRequest, WriterResult, WriterSetup } from "./sqlite-writer.js";

// The thread that owns the SQLite write connection (sqlite-writer.ts posts it whole
// transactions). Everything here is synchronous: a commit's fsync (durability full) blocks
// this thread, never the event loop.

const setup = workerData as WriterSetup;
const db = new Database(setup.path, { fileMustExist: true });
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${setup.synchronous}`);
db.pragma("busy_timeout = 5000");
// A multi-row UPDATE or INSERT in a transaction keeps a statement journal (the pages it
// changes, to undo that one statement): in a temp file by default, a write syscall per page
// and more than the WAL's own. In memory it costs no syscalls (a batch's few hundred KiB,
// freed at the statement's end).
db.pragma("temp_store = MEMORY");
// Checkpoint at 10,000 WAL frames (about 40 MiB), not 1,000: a page written again before the
// checkpoint goes to the database file once, which at a million tasks (each task of a batch on
// a page of its own) saves most of the checkpoint's reads and writes. The WAL is checkpointed
// away when the server closes the database.
db.pragma("wal_autocheckpoint = 10000");

/** Statements kept prepared (least recently used goes first). */
const CAPACITY = 128;
const statements = new Map<string, Database.Statement>();

function prepared(sql: string): Database.Statement {
  let stmt = statements.get(sql);
  if (stmt) {
    statements.delete(sql);
  } else {
    stmt = db.prepare(sql);
    if (statements.size >= CAPACITY) statements.delete(statements.keys().next().value!);
  }
  statements.set(sql, stmt);
  return stmt;
}

const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const rollback = db.prepare("ROLLBACK");

/** A guard that did not hold: the transaction rolls back and the caller re-applies the batch. */
class GuardMiss extends Error {}

/** better-sqlite3 binds no booleans (sqlite3 bound them as 0 and 1) and no undefined. */
function bindable(params: unknown[]): unknown[] {
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (typeof p === "boolean") params[i] = p ? 1 : 0;
    else if (p === undefined) params[i] = null;
  }
  return params;
}

function runOp(op: WriterOp, counts: number[]): unknown[] {
  const stmt = prepared(op.sql);
  const params = bindable(op.params);
  let rows: unknown[];
  let count: number;
  if (stmt.reader) {
    rows = stmt.all(params);
    count = rows.length;
  } else {
    rows = [];
    count = stmt.run(params).changes;
  }
  if (op.expect !== undefined && count !== op.expect) throw new GuardMiss(op.conflict ?? "a row changed under the transaction");
  counts.push(count);
  return rows;
}

function transaction(ops: readonly WriterOp[]): WriterResult {
  begin.run();
  try {
    const counts: number[] = [];
    const rows = ops.map((op) => runOp(op, counts));
    commit.run();
    return { rows, counts };
  } catch (err) {
    // Nothing of it stays (a failed COMMIT may already have ended the transaction).
    if (db.inTransaction) rollback.run();
    throw err;
  }
}

parentPort!.on("message", (msg: WriterRequest) => {
  let answer: WriterAnswer;
  try {
    if (msg.close) {
      statements.clear();
      db.close();
      answer = { id: msg.id, ok: true, result: { rows: [], counts: [] } };
    } else {
      answer = { id: msg.id, ok: true, result: transaction(msg.ops) };
    }
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    answer = {
      id: msg.id,
      ok: false,
      conflict: err instanceof GuardMiss,
      message: String(e?.message ?? err),
      code: typeof e?.code === "string" ? e.code : undefined,
    };
  }
  parentPort!.postMessage(answer);
});
