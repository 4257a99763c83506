import type { Task } from "../domain/model.js";
import type { TaskQuery, TaskStore } from "../domain/ports.js";
import { createBatchWriter } from "./batch-writer.js";
import type { OpenDatabase } from "./orm.js";
import { postgresqlDialect } from "./postgresql-dialect.js";
import { type CommittedChanges, directPublication, feedPublication, type PublicationStrategy } from "./publication.js";
import { rowToEvent } from "./row-mapping.js";
import type { EventRow } from "./schema.js";
import { createSqlBatchAttempt, isConflict, type SqlBatchOutcome } from "./sql-batch.js";
import type { SqlDialect } from "./sql-dialect.js";
import {
  maxSequence,
  selectConfirmations,
  selectPendingConfirmations,
  selectTaskPage,
  selectTasks,
  selectUnfinishedTasks,
} from "./sql-reads.js";
import { sqliteDialect } from "./sqlite-dialect.js";
import type { SqliteWriter } from "./sqlite-writer.js";
import { createTaskCache } from "./task-cache.js";

/** What one publication carries (defined in publication.ts; pg-feed.ts and tests import it from here). */
export type { CommittedChanges } from "./publication.js";

/** Tuning of the batch writer. */
export interface SqlTaskStoreOptions {
  /**
   * Most mutations committed in one transaction.
   * @default 2000
   */
  maxBatch?: number;
  /**
   * Finished tasks (and final confirmations) kept in memory besides every unfinished one.
   * @default 10000
   */
  recentCapacity?: number;
  /** @default Date.now */
  clock?: () => number;
  /** Told when a batch fails (the callers get UNAVAILABLE; the cause is logged, never sent). */
  onError?: (err: unknown) => void;
  /**
   * How commits reach onCommit listeners. "direct": right after each commit, which is
   * sequence order only while this process is the one writer (SQLite). "feed": each local
   * commit goes to the onLocalCommit handler, which publishes it (via `publish`) once every
   * earlier sequence, whichever replica wrote it, was published; callers are answered then.
   * @default "direct"
   */
  publication?: "direct" | "feed";
  /**
   * PostgreSQL only: each committing transaction NOTIFYs `channel` with its highest sequence
   * and `origin` (payload "<sequence> <origin>"), so other replicas' feeds read the log at
   * once and this one can skip its own echo. Unset: no NOTIFY.
   */
  commitNotify?: { readonly channel: string; readonly origin: string };
  /**
   * Runs after each COMMIT, before the cache, the listeners and the callers follow; if it
   * throws, the batch's callers get that error (an UnavailableError as is) instead of OK.
   */
  verifyCommit?: () => void;
}

/** The store plus what only the composition root uses. */
export interface SqlTaskStore extends TaskStore {
  /** Loads every unfinished task and pending confirmation, and the last sequence. */
  open(): Promise<void>;
  /** Waits for queued mutations to commit, then refuses new ones. */
  flush(): Promise<void>;
  /** Deletes events beyond the retention bounds; returns how many. */
  trimEvents(bounds: { maxEvents: number; maxAgeMs: number }): Promise<number>;
  /**
   * Deletes finished tasks that ended more than `maxAgeMs` ago, with their confirmations,
   * `batchSize` tasks per transaction (writes queued meanwhile commit between two batches),
   * until none is left or `signal` aborts; returns how many tasks. A purged task is gone
   * from the cache too: reads answer it as unknown.
   */
  purgeFinishedTasks(options: PurgeOptions): Promise<number>;
  /** Rows in the event log (for metrics). */
  eventCount(): Promise<number>;
  /** Sizes of the batches committed so far, for metrics: called once per commit. */
  onBatch(listener: (size: number) => void): void;
  /**
   * Feed publication: takes each local commit that made events; the batch's callers are
   * answered when the returned promise settles (by then it must have been published).
   */
  onLocalCommit(handler: (commit: CommittedChanges) => Promise<void>): void;
  /**
   * Persisted events after `after` (at most `limit`) and the current rows of the tasks and
   * confirmations they touched, read in one snapshot, so the rows are the state the last
   * event left (or, when more events follow, a later one).
   */
  readCommitted(after: number, limit: number): Promise<CommittedChanges>;
  /**
   * Feed publication: makes committed events visible, synchronously: the cache takes the
   * rows (never going back to an older revision), lastSequence() moves to the last event,
   * then onCommit listeners run. The caller guarantees sequence order without gaps.
   */
  publish(changes: CommittedChanges): void;
  /** Re-reads every cached and every unfinished task and every pending confirmation. */
  refresh(): Promise<void>;
}

/** How one retention sweep of finished tasks runs. */
export interface PurgeOptions {
  /** Finished tasks whose end time is older than this many ms go. */
  readonly maxAgeMs: number;
  /**
   * Tasks deleted per transaction: small enough that a write waiting behind one batch is not
   * held up long (bench/retention.ts measures it).
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * Pause between two batches, in ms, so the writes queued behind one commit (several group
   * commits' worth) before the next batch takes the connection.
   * @default 10
   */
  readonly pauseMs?: number;
  /** Stops between two batches (shutdown). */
  readonly signal?: AbortSignal;
  /** Told the size of each committed batch. */
  readonly onBatch?: (tasks: number) => void;
}

const FINISHED = ["succeeded", "failed", "cancelled"] as const;

const DIALECTS: Record<OpenDatabase["dialect"], SqlDialect> = { sqlite: sqliteDialect, postgresql: postgresqlDialect };

/**
 * The task store over MikroORM's connection, put together from its parts:
 *
 * - task-cache.ts: every unfinished task and pending confirmation in memory (EmitProgress and
 *   snapshots never read the database), finished ones in bounded LRU caches;
 * - batch-writer.ts: group commit (mutations queue while a transaction is in flight; the next
 *   attempt takes them all; conflicts re-run the batch); only after COMMIT are listeners told
 *   and callers answered. A naive unit of work per call costs a transaction per update; this
 *   costs one per tick;
 * - sql-batch.ts + batch-apply.ts: one attempt (load, apply against committed state, write);
 * - sqlite-dialect.ts / postgresql-dialect.ts: what differs between the engines;
 * - publication.ts: "direct" publishes each commit at once; "feed" (several replicas on one
 *   PostgreSQL) hands it to pg-feed.ts, which publishes every replica's commits in sequence
 *   order, and the cache follows each publication, other replicas' rows included.
 */
export function createSqlTaskStore(db: OpenDatabase, options: SqlTaskStoreOptions = {}): SqlTaskStore {
  const { knex } = db;
  const dialect = DIALECTS[db.dialect];
  const clock = options.clock ?? Date.now;
  const cache = createTaskCache({ recentCapacity: options.recentCapacity });
  const commitListeners: ((events: CommittedChanges["events"]) => void)[] = [];
  const batchListeners: ((size: number) => void)[] = [];
  let last = 0;
  // Moves at every purge: a read that started before one does not put a purged row back.
  let purges = 0;

  function publish({ events, tasks, confirmations }: CommittedChanges): void {
    for (const t of tasks) cache.rememberIfNewer(t);
    for (const c of confirmations) cache.rememberConfirmationIfNewer(c);
    if (events.length === 0) return;
    last = Math.max(last, events[events.length - 1]!.sequence);
    for (const l of commitListeners) l(events);
  }

  const publication: PublicationStrategy =
    (options.publication ?? "direct") === "direct" ? directPublication(publish) : feedPublication(publish);

  const writer = createBatchWriter<SqlBatchOutcome>({
    maxBatch: options.maxBatch ?? 2000,
    // PostgreSQL replicas race each other for the same rows: commits at once (more, smaller
    // batches) made a batch lose its guards four times running under two writing replicas.
    commitAtOnce: dialect.soleWriter,
    attempt: createSqlBatchAttempt({
      knex,
      dialect,
      cache,
      clock,
      // Batches commit one at a time and `last` moves at each commit, so with one writing
      // process that publishes its own commits it is the log's maximum.
      knownLastSequence: dialect.soleWriter && publication.publishesOwnCommits ? () => last : null,
      commitNotify: options.commitNotify,
      writer: db.writer,
    }),
    isConflict,
    committed({ events, changes }, size) {
      options.verifyCommit?.();
      for (const l of batchListeners) l(size);
      return publication.committed({ events, tasks: [...changes.tasks.values()], confirmations: [...changes.confirmations.values()] });
    },
    onError: options.onError,
  });

  const store: SqlTaskStore = {
    async open() {
      for (const t of await selectUnfinishedTasks(knex, db.dialect)) cache.remember(t);
      for (const c of await selectPendingConfirmations(knex)) cache.rememberConfirmation(c);
      last = await maxSequence(knex);
    },

    mutate: (mutation) => writer.submit(mutation),

    async getTask(id) {
      const cached = cache.task(id);
      if (cached) return cached;
      const before = purges;
      const [task] = await selectTasks(knex, "id", [id]);
      if (task && before === purges) cache.remember(task);
      return task ?? null;
    },

    peekTask: (id) => cache.task(id),

    activeTasks({ owner, taskIds, unordered }) {
      const out: Task[] = [];
      for (const t of cache.activeTasks()) {
        if (owner !== undefined && t.owner !== owner) continue;
        if (taskIds && !taskIds.has(t.id)) continue;
        out.push(t);
      }
      return unordered ? out : out.sort(newestFirst);
    },

    listTasks: (query: TaskQuery) => selectTaskPage(knex, query),

    async getConfirmation(id) {
      const cached = cache.confirmation(id);
      if (cached) return cached;
      const before = purges;
      const [c] = await selectConfirmations(knex, [id]);
      if (c && before === purges) cache.rememberConfirmation(c);
      return c ?? null;
    },

    pendingConfirmations: () => cache.pendingConfirmations(),

    async readEvents(after, limit) {
      const rows = (await knex("events").where("sequence", ">", after).orderBy("sequence", "asc").limit(limit)) as EventRow[];
      return rows.map(rowToEvent);
    },

    async readTaskEvents(taskId, after, limit) {
      const rows = (await knex("events")
        .where("task_id", taskId)
        .andWhere("sequence", ">", after)
        .orderBy("sequence", "asc")
        .limit(limit)) as EventRow[];
      return rows.map(rowToEvent);
    },

    onLocalCommit: (handler) => publication.onLocalCommit(handler),

    readCommitted: (after, limit) => dialect.readCommitted(knex, after, limit),

    publish,

    async refresh() {
      const held = await selectTasks(knex, "id", cache.taskIds());
      for (const t of [...held, ...(await selectUnfinishedTasks(knex, db.dialect))]) cache.rememberIfNewer(t);
      const pendingIds = cache.pendingConfirmationIds();
      const pending = await selectPendingConfirmations(knex);
      for (const c of await selectConfirmations(knex, pendingIds)) cache.rememberConfirmationIfNewer(c);
      for (const c of pending) cache.rememberConfirmationIfNewer(c);
    },

    lastSequence: () => last,

    async oldestRetainedSequence() {
      const [{ s }] = (await knex("events").min({ s: "sequence" })) as { s: number | string | null }[];
      // An empty log retains everything after the last sequence.
      return s === null ? last + 1 : Number(s);
    },

    onCommit(listener) {
      commitListeners.push(listener);
    },

    onBatch(listener) {
      batchListeners.push(listener);
    },

    flush: () => writer.close(),

    async trimEvents({ maxEvents, maxAgeMs }) {
      // Never delete the newest event: the log's maximum is where sequences continue.
      const keepFrom = Math.max(last - maxEvents + 1, 0);
      const byCount = { sql: "delete from events where sequence < ?", params: [Math.min(keepFrom, last)] };
      const byAge = { sql: "delete from events where time < ? and sequence < ?", params: [clock() - maxAgeMs, last] };
      if (db.writer) {
        const { counts } = await db.writer.transaction([byCount, byAge]);
        return counts[0]! + counts[1]!;
      }
      const n1 = await knex("events").where("sequence", "<", byCount.params[0]!).del();
      const n2 = await knex("events").where("time", "<", byAge.params[0]!).andWhere("sequence", "<", last).del();
      return Number(n1) + Number(n2);
    },

    async purgeFinishedTasks({ maxAgeMs, batchSize = 100, pauseMs = 10, signal, onBatch }) {
      const cutoff = clock() - maxAgeMs;
      let total = 0;
      while (signal?.aborted !== true) {
        const gone = db.writer ? await purgeOnWriter(db.writer, cutoff, batchSize) : await knex.transaction(async (trx) => {
          // Only a finished task has an end time: the end-time index alone finds the batch
          // (a status filter here makes the planner sort every finished task instead).
          const tasks = (await trx("tasks")
            .select("id")
            .where("end_time", "<", cutoff)
            .orderBy("end_time", "asc")
            .limit(batchSize)) as { id: string }[];
          const taskIds = tasks.map((t) => t.id);
          if (taskIds.length === 0) return { taskIds, confirmationIds: [] as string[] };
          const confirmations = (await trx("confirmations").select("id").whereIn("task_id", taskIds)) as { id: string }[];
          await trx("confirmations").whereIn("task_id", taskIds).del();
          // The status is checked again in the DELETE itself: a finished task never changes.
          await trx("tasks").whereIn("id", taskIds).whereIn("status", FINISHED).del();
          return { taskIds, confirmationIds: confirmations.map((c) => c.id) };
        });
        if (gone.taskIds.length === 0) break;
        purges += 1;
        cache.forget(gone.taskIds, gone.confirmationIds);
        total += gone.taskIds.length;
        onBatch?.(gone.taskIds.length);
        if (gone.taskIds.length < batchSize) break;
        // Let the writes queued behind this batch take the database before the next one.
        await new Promise<void>((resolve) => setTimeout(resolve, pauseMs));
      }
      return total;
    },

    async eventCount() {
      const [{ n }] = (await knex("events").count({ n: "*" })) as { n: number | string }[];
      return Number(n);
    },
  };
  return store;
}

/**
 * One retention batch in one writer transaction: the finished tasks that ended first, oldest
 * first, with their confirmations. The same subquery names the batch in both DELETEs (the
 * transaction holds the write lock, so nothing moves between them).
 */
async function purgeOnWriter(writer: SqliteWriter, cutoff: number, batchSize: number): Promise<{ taskIds: string[]; confirmationIds: string[] }> {
  // Only a finished task has an end time: the end-time index alone finds the batch
  // (a status filter here makes the planner sort every finished task instead).
  const batch = "select id from tasks where end_time < ? order by end_time asc limit ?";
  const { rows: [confirmations, tasks] } = await writer.transaction([
    { sql: `delete from confirmations where task_id in (${batch}) returning id`, params: [cutoff, batchSize] },
    // The status is checked again in the DELETE itself: a finished task never changes.
    { sql: `delete from tasks where id in (${batch}) and status in (${FINISHED.map(() => "?").join(", ")}) returning id`, params: [cutoff, batchSize, ...FINISHED] },
  ]);
  return {
    taskIds: (tasks as { id: string }[]).map((t) => t.id),
    confirmationIds: (confirmations as { id: string }[]).map((c) => c.id),
  };
}

function newestFirst(a: Task, b: Task): number {
  return b.createTime - a.createTime || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
