import type { Knex } from "@mikro-orm/knex";
import type { Confirmation, SequencedEvent, Task } from "../domain/model.js";
import { eventOwner, eventTaskId } from "../domain/model.js";
import type { Mutation } from "../domain/ports.js";
import { applyBatch, type Changes, type Loaded, requestKey } from "./batch-apply.js";
import type { BatchOutcome } from "./batch-writer.js";
import { confirmationToRow, eventToRow, json, taskColumnDiffers, taskToRow, UPDATABLE_COLUMNS } from "./row-mapping.js";
import { chunks, insertStatements, ladderChunks, type SqlDialect, updateTasksStatement } from "./sql-dialect.js";
import { type SqliteWriter, type WriterOp, WriterConflict } from "./sqlite-writer.js";
import { maxSequence, selectConfirmations, selectConfirmationsByRequest, selectTasks } from "./sql-reads.js";
import type { TaskCache } from "./task-cache.js";

/** A committed attempt: the writer's outcome plus the rows it wrote, for publication. */
export interface SqlBatchOutcome extends BatchOutcome {
  readonly changes: Changes;
}

/** What one attempt at a batch needs. */
export interface SqlBatchOptions {
  readonly knex: Knex;
  readonly dialect: SqlDialect;
  readonly cache: TaskCache;
  readonly clock: () => number;
  /**
   * The last published sequence, when it is known to be the log's maximum (a sole writer
   * publishing its own commits); null makes each commit read the maximum under the lock.
   */
  readonly knownLastSequence: (() => number) | null;
  /**
   * The SQLite file's write connection: with knownLastSequence, each batch commits there in
   * one trip; without, the dialect's transaction on `knex` writes it.
   */
  readonly writer?: SqliteWriter | null;
  /** NOTIFY this channel on commit with "<last sequence> <origin>" (PostgreSQL). */
  readonly commitNotify?: { readonly channel: string; readonly origin: string };
}

/** Thrown inside a transaction when another writer changed a row first: the batch is re-applied. */
export class ConflictError extends Error {}

/** A lost race: our guard matched fewer rows, a unique key was taken, or PostgreSQL aborted a serialisation. */
export function isConflict(err: unknown): boolean {
  if (err instanceof ConflictError) return true;
  const text = String((err as { code?: unknown })?.code ?? "") + String((err as Error)?.message ?? "");
  return /23505|SQLITE_CONSTRAINT|UNIQUE constraint|40001|40P01/.test(text);
}

/** The UPDATE answering a confirmation: only a PENDING row changes, so RETURNING must answer it. */
function resolveConfirmation(c: Confirmation): WriterOp {
  return {
    sql:
      "update confirmations set state = ?, action = ?, answer_values = ?, resolve_time = ?, answered_by = ?, answer_time = ?, defaulted = ? " +
      "where id = ? and state = 'pending' returning id",
    params: [c.state, c.action, json(c.values), c.resolveTime, c.answeredBy, c.answerTime, c.defaulted, c.id],
    expect: 1,
    conflict: "a confirmation changed under the batch",
  };
}

/** Changed tasks per UPDATE … FROM VALUES statement. */
const UPDATES_PER_STATEMENT = 400;

/**
 * Most rows per statement through the SQLite writer thread, in ladderChunks' sizes: the thread
 * keeps its statements prepared, so they come in at most 7 sizes per kind (64, 32, … 1)
 * instead of one per batch size. Measured here with the statements prepared: 24 event rows took
 * 68–83 µs in one statement and 71–77 µs as 16 + 8, and 1,860 rows 4.4–6.6 ms in one against
 * 3.9–4.4 ms in runs of 64.
 */
const WRITER_STATEMENT_ROWS = 64;

/**
 * One attempt at a batch: load the rows the cache lacks (all of them on a retry), apply the
 * mutations against that committed state, then write one transaction: each touched task once,
 * each touched confirmation once, and one multi-row insert into the event log with sequence
 * numbers taken inside the transaction (so they follow commit order).
 */
export function createSqlBatchAttempt(options: SqlBatchOptions): (batch: readonly Mutation<unknown>[], retry: boolean) => Promise<SqlBatchOutcome> {
  const { knex, dialect, cache } = options;

  async function load(batch: readonly Mutation<unknown>[], fresh: boolean): Promise<Loaded> {
    const taskIds = new Set<string>();
    const requestIds = new Set<string>();
    const confirmationIds = new Set<string>();
    const confirmationRequests: { taskId: string; requestId: string }[] = [];
    for (const { keys: k } of batch) {
      for (const id of k.tasks ?? []) if (fresh || !cache.task(id)) taskIds.add(id);
      for (const r of k.taskRequestIds ?? []) {
        const id = cache.taskIdByRequest(r);
        if (fresh || !id || !cache.task(id)) requestIds.add(r);
      }
      for (const id of k.confirmations ?? []) if (fresh || !cache.confirmation(id)) confirmationIds.add(id);
      for (const p of k.confirmationRequests ?? []) confirmationRequests.push(p);
    }
    const loaded: Loaded = { tasks: new Map(), requestIds: new Map(), confirmations: new Map(), confirmationRequests: new Map() };
    // Rows read here are committed truth: the cache takes them at once.
    for (const t of await selectTasks(knex, "id", [...taskIds])) {
      cache.remember(t);
      loaded.tasks.set(t.id, t);
    }
    for (const t of await selectTasks(knex, "request_id", [...requestIds])) {
      cache.remember(t);
      loaded.tasks.set(t.id, t);
      if (t.requestId) loaded.requestIds.set(t.requestId, t);
    }
    const pendingIds = fresh ? [...loaded.tasks.values()].flatMap((t) => (t.pendingConfirmationId ? [t.pendingConfirmationId] : [])) : [];
    for (const c of await selectConfirmations(knex, [...new Set([...confirmationIds, ...pendingIds])])) {
      cache.rememberConfirmation(c);
      loaded.confirmations.set(c.id, c);
    }
    for (const c of await selectConfirmationsByRequest(knex, confirmationRequests)) {
      cache.rememberConfirmation(c);
      loaded.confirmationRequests.set(requestKey(c.taskId, c.requestId ?? ""), c);
      loaded.confirmations.set(c.id, c);
    }
    return loaded;
  }

  /**
   * The UPDATE of a chunk of changed tasks, each guarded by its base revision: RETURNING must
   * answer every one of them, or another writer got there first (a conflict).
   */
  function updateTasks(tasks: Task[], base: Map<string, number>): WriterOp {
    // Only the columns some task of the chunk changed (a progress batch: progress, label,
    // checkpoint, update_time, revision) instead of all fourteen: fewer values to bind and write.
    const changed = new Set<string>(["update_time", "revision"]);
    for (const t of tasks) {
      const before = cache.task(t.id);
      if (!before || before.revision !== base.get(t.id)) {
        for (const c of UPDATABLE_COLUMNS) changed.add(c);
        break;
      }
      for (const c of UPDATABLE_COLUMNS) if (!changed.has(c) && taskColumnDiffers(before, t, c)) changed.add(c);
    }
    const columns = UPDATABLE_COLUMNS.filter((c) => changed.has(c));
    const { sql, params } = updateTasksStatement(dialect, tasks, columns, (id) => base.get(id) ?? 0);
    return { sql, params, expect: tasks.length, conflict: "a task changed under the batch" };
  }

  /**
   * The statements writing a batch's tasks and confirmations, in order; with `ladder` (the
   * writer thread's prepared statements) in ladderChunks' sizes of at most that many rows.
   */
  function rowOps(changes: Changes, ladder?: number): WriterOp[] {
    const ops: WriterOp[] = [];
    const inserts: Task[] = [];
    const updates: Task[] = [];
    for (const t of changes.tasks.values()) (changes.baseRevisions.get(t.id) ? updates : inserts).push(t);
    ops.push(...insertStatements("tasks", inserts.map(taskToRow), ladder));
    for (const part of ladder ? ladderChunks(updates, ladder) : chunks(updates, UPDATES_PER_STATEMENT)) ops.push(updateTasks(part, changes.baseRevisions));
    const created: Confirmation[] = [];
    const changed: Confirmation[] = [];
    for (const c of changes.confirmations.values()) (changes.newConfirmations.has(c.id) ? created : changed).push(c);
    ops.push(...insertStatements("confirmations", created.map(confirmationToRow), ladder));
    // Only PENDING rows ever change: the first answer (or expiry, or cancel) wins.
    for (const c of changed) ops.push(resolveConfirmation(c));
    return ops;
  }

  function sequence(changes: Changes, now: number, last: number): SequencedEvent[] {
    return changes.events.map(({ event }) => ({ sequence: ++last, time: now, taskId: eventTaskId(event), owner: eventOwner(event), event }));
  }

  /** Through the dialect's transaction, one statement at a time (PostgreSQL; SQLite without a writer thread). */
  async function write(trx: Knex.Transaction, changes: Changes, now: number): Promise<SequencedEvent[]> {
    // First, before any row is written: replicas' batches then never wait for each other's row
    // locks (taken after the rows, two batches touching the same tasks deadlocked or lost their
    // guards often enough that a batch ran out of attempts and its callers got UNAVAILABLE).
    const locked = await dialect.lockForCommit(trx);
    for (const op of rowOps(changes)) {
      const rows = await dialect.execute(trx, op.sql, op.params);
      if (op.expect !== undefined && rows.length !== op.expect) throw new ConflictError(op.conflict);
    }
    if (changes.events.length === 0) return [];
    const sequenced = sequence(changes, now, options.knownLastSequence ? options.knownLastSequence() : (locked ?? (await maxSequence(trx))));
    const notify = options.commitNotify;
    // Delivered only if this transaction commits.
    const last = sequenced[sequenced.length - 1]!.sequence;
    await dialect.insertRows(trx, "events", sequenced.map(eventToRow), notify && { channel: notify.channel, payload: `${last} ${notify.origin}` });
    return sequenced;
  }

  /** Through the writer thread: the whole transaction in one trip (a sole writer that knows its last sequence). */
  async function writeOnce(writer: SqliteWriter, lastSequence: () => number, changes: Changes, now: number): Promise<SequencedEvent[]> {
    const sequenced = sequence(changes, now, lastSequence());
    const ops = rowOps(changes, WRITER_STATEMENT_ROWS);
    ops.push(...insertStatements("events", sequenced.map(eventToRow), WRITER_STATEMENT_ROWS));
    try {
      await writer.transaction(ops);
    } catch (err) {
      throw err instanceof WriterConflict ? new ConflictError(err.message) : err;
    }
    return sequenced;
  }

  const writer = options.writer;
  const lastSequence = options.knownLastSequence;
  const commit =
    writer && lastSequence
      ? (changes: Changes, now: number) => writeOnce(writer, lastSequence, changes, now)
      : (changes: Changes, now: number) => dialect.transaction(knex, (trx) => write(trx, changes, now));

  return async (batch, retry) => {
    const now = options.clock();
    const loaded = await load(batch, retry);
    const { changes, results } = applyBatch(batch, loaded, cache, now);
    const events =
      changes.tasks.size + changes.confirmations.size + changes.events.length === 0
        ? []
        : await commit(changes, now);
    return { results, events, eventOwners: changes.events.map((e) => e.owner), changes };
  };
}
