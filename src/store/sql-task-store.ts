import type { Knex } from "@mikro-orm/knex";
import { UnavailableError } from "../domain/errors.js";
import type { Confirmation, JsonObject, SequencedEvent, Task, TaskEvent, TaskStatus } from "../domain/model.js";
import { eventOwner, eventTaskId, isTerminal } from "../domain/model.js";
import type { Committed, Mutation, TaskQuery, TaskStore, Working } from "../domain/ports.js";
import type { OpenDatabase } from "./orm.js";
import type { ConfirmationRow, EventRow, TaskRow } from "./schema.js";
import { TaskSchema } from "./schema.js";

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

/** Committed events with the rows they left behind: what one publication hands the cache and listeners. */
export interface CommittedChanges {
  /** Contiguous, in sequence order. */
  readonly events: readonly SequencedEvent[];
  /** Rows of the tasks the events touched, as committed. */
  readonly tasks: readonly Task[];
  /** Rows of the confirmations the events touched, as committed. */
  readonly confirmations: readonly Confirmation[];
}

/** The store plus what only the composition root uses. */
export interface SqlTaskStore extends TaskStore {
  /** Loads every unfinished task and pending confirmation, and the last sequence. */
  open(): Promise<void>;
  /** Waits for queued mutations to commit, then refuses new ones. */
  flush(): Promise<void>;
  /** Deletes events beyond the retention bounds; returns how many. */
  trimEvents(bounds: { maxEvents: number; maxAgeMs: number }): Promise<number>;
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

interface Pending<R> {
  mutation: Mutation<R>;
  resolve(value: Committed<R>): void;
  reject(err: unknown): void;
}

/** Thrown inside a transaction when another writer changed a row first: the batch is re-applied. */
class ConflictError extends Error {}

const MAX_ATTEMPTS = 4;

/**
 * The task store over MikroORM's connection.
 *
 * Writes are group-committed: mutations queue while a transaction is in flight and the next
 * flush applies all of them, in order, against the committed state, then writes one
 * transaction: each touched task once (several updates to one task coalesce into one row
 * write), each touched confirmation once, and one multi-row insert into the event log with
 * sequence numbers read inside the transaction (so they follow commit order). Only after
 * COMMIT are listeners told and callers answered. A naive unit of work per call (fork, find,
 * flush) costs a transaction per update; this costs one per tick.
 *
 * Every unfinished task and every pending confirmation is held in memory (EmitProgress and
 * snapshots never read the database); finished ones are kept in a bounded recent set.
 *
 * With publication "feed" (several replicas on one PostgreSQL) a commit is not published by
 * the batch that made it: a feed (pg-feed.ts) publishes every replica's commits in sequence
 * order, and the cache follows each publication, other replicas' rows included.
 */
export function createSqlTaskStore(db: OpenDatabase, options: SqlTaskStoreOptions = {}): SqlTaskStore {
  const { knex, dialect } = db;
  const maxBatch = options.maxBatch ?? 2000;
  const recentCapacity = options.recentCapacity ?? 10_000;
  const clock = options.clock ?? Date.now;
  const publication = options.publication ?? "direct";

  const active = new Map<string, Task>();
  const recent = new Map<string, Task>();
  const byRequestId = new Map<string, string>();
  const pendingConfirmations = new Map<string, Confirmation>();
  const recentConfirmations = new Map<string, Confirmation>();
  const commitListeners: ((events: readonly SequencedEvent[]) => void)[] = [];
  const batchListeners: ((size: number) => void)[] = [];
  let localCommitHandler: ((commit: CommittedChanges) => Promise<void>) | null = null;
  let queue: Pending<unknown>[] = [];
  let flushing: Promise<void> | null = null;
  let closed = false;
  let last = 0;

  // ---- cache ---------------------------------------------------------------------------

  function cachedTask(id: string): Task | undefined {
    return active.get(id) ?? recent.get(id);
  }

  function remember(task: Task): void {
    if (task.requestId) byRequestId.set(task.requestId, task.id);
    if (isTerminal(task.status)) {
      active.delete(task.id);
      recent.delete(task.id);
      recent.set(task.id, task);
      if (recent.size > recentCapacity) {
        const [oldest] = recent.values();
        if (oldest) {
          recent.delete(oldest.id);
          if (oldest.requestId) byRequestId.delete(oldest.requestId);
        }
      }
    } else {
      active.set(task.id, task);
    }
  }

  function rememberConfirmation(c: Confirmation): void {
    if (c.state === "pending") {
      pendingConfirmations.set(c.id, c);
      return;
    }
    pendingConfirmations.delete(c.id);
    recentConfirmations.delete(c.id);
    recentConfirmations.set(c.id, c);
    if (recentConfirmations.size > recentCapacity) {
      const [oldest] = recentConfirmations.keys();
      if (oldest) recentConfirmations.delete(oldest);
    }
  }

  function cachedConfirmation(id: string): Confirmation | undefined {
    return pendingConfirmations.get(id) ?? recentConfirmations.get(id);
  }

  /**
   * Takes a row from a publication unless the cache already holds a later one (a batch's
   * load or a cache miss may have read past the published sequence).
   */
  function rememberIfNewer(task: Task): void {
    const held = cachedTask(task.id);
    if (!held || held.revision <= task.revision) remember(task);
  }

  /** Confirmations only leave PENDING, so a final row is never replaced by a pending one. */
  function rememberConfirmationIfNewer(c: Confirmation): void {
    const held = cachedConfirmation(c.id);
    if (!held || held.state === "pending" || c.state !== "pending") rememberConfirmation(c);
  }

  // ---- reads ---------------------------------------------------------------------------

  async function selectTasks(column: "id" | "request_id", values: readonly string[]): Promise<Task[]> {
    if (values.length === 0) return [];
    const out: Task[] = [];
    for (const part of chunks(values, 500)) {
      const rows = await knex("tasks").whereIn(column, part as string[]);
      out.push(...(rows as TaskRow[]).map(rowToTask));
    }
    return out;
  }

  async function selectConfirmations(ids: readonly string[]): Promise<Confirmation[]> {
    if (ids.length === 0) return [];
    const rows = await knex("confirmations").whereIn("id", ids as string[]);
    return (rows as ConfirmationRow[]).map(rowToConfirmation);
  }

  async function selectConfirmationsByRequest(
    pairs: readonly { taskId: string; requestId: string }[],
  ): Promise<Confirmation[]> {
    if (pairs.length === 0) return [];
    const rows = await knex("confirmations").where((qb) => {
      for (const p of pairs) qb.orWhere({ task_id: p.taskId, request_id: p.requestId });
    });
    return (rows as ConfirmationRow[]).map(rowToConfirmation);
  }

  // ---- the batch writer ----------------------------------------------------------------

  /** What a batch loaded from the database for keys the cache did not hold. */
  interface Loaded {
    tasks: Map<string, Task>;
    requestIds: Map<string, Task>;
    confirmations: Map<string, Confirmation>;
    confirmationRequests: Map<string, Confirmation>;
  }

  async function load(batch: Pending<unknown>[], fresh: boolean): Promise<Loaded> {
    const taskIds = new Set<string>();
    const requestIds = new Set<string>();
    const confirmationIds = new Set<string>();
    const confirmationRequests: { taskId: string; requestId: string }[] = [];
    for (const { mutation } of batch) {
      const k = mutation.keys;
      for (const id of k.tasks ?? []) if (fresh || !cachedTask(id)) taskIds.add(id);
      for (const r of k.taskRequestIds ?? []) {
        const id = byRequestId.get(r);
        if (fresh || !id || !cachedTask(id)) requestIds.add(r);
      }
      for (const id of k.confirmations ?? []) if (fresh || !cachedConfirmation(id)) confirmationIds.add(id);
      for (const p of k.confirmationRequests ?? []) confirmationRequests.push(p);
    }
    const loaded: Loaded = {
      tasks: new Map(),
      requestIds: new Map(),
      confirmations: new Map(),
      confirmationRequests: new Map(),
    };
    // Rows read here are committed truth: the cache takes them at once.
    for (const t of await selectTasks("id", [...taskIds])) {
      remember(t);
      loaded.tasks.set(t.id, t);
    }
    for (const t of await selectTasks("request_id", [...requestIds])) {
      remember(t);
      loaded.tasks.set(t.id, t);
      if (t.requestId) loaded.requestIds.set(t.requestId, t);
    }
    const pendingIds = [...loaded.tasks.values()].flatMap((t) => (t.pendingConfirmationId ? [t.pendingConfirmationId] : []));
    for (const c of await selectConfirmations([...new Set([...confirmationIds, ...(fresh ? pendingIds : [])])])) {
      rememberConfirmation(c);
      loaded.confirmations.set(c.id, c);
    }
    for (const c of await selectConfirmationsByRequest(confirmationRequests)) {
      rememberConfirmation(c);
      loaded.confirmationRequests.set(`${c.taskId}\u0000${c.requestId}`, c);
      loaded.confirmations.set(c.id, c);
    }
    return loaded;
  }

  /** The batch's accumulated changes. */
  interface Changes {
    tasks: Map<string, Task>;
    /** Revision each changed task had when the batch read it (0 for new tasks). */
    baseRevisions: Map<string, number>;
    confirmations: Map<string, Confirmation>;
    newConfirmations: Set<string>;
    events: { owner: number; event: TaskEvent }[];
  }

  function applyAll(batch: Pending<unknown>[], loaded: Loaded, now: number) {
    const changes: Changes = {
      tasks: new Map(),
      baseRevisions: new Map(),
      confirmations: new Map(),
      newConfirmations: new Set(),
      events: [],
    };
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const readTask = (id: string): Task | null =>
      changes.tasks.get(id) ?? loaded.tasks.get(id) ?? cachedTask(id) ?? null;
    const readConfirmation = (id: string): Confirmation | null =>
      changes.confirmations.get(id) ?? loaded.confirmations.get(id) ?? cachedConfirmation(id) ?? null;

    // One view for the whole batch over one op-local overlay, cleared between mutations: an
    // op's writes join the batch only if it returns (a StreamProgress batch holds thousands).
    const tasks = new Map<string, Task>();
    const confirmations = new Map<string, Confirmation>();
    let events: TaskEvent[] = [];
    const working: Working = {
      now,
      task: (id) => tasks.get(id) ?? readTask(id),
      taskByRequestId(requestId) {
        for (const t of [...tasks.values(), ...changes.tasks.values()]) if (t.requestId === requestId) return t;
        const fromDb = loaded.requestIds.get(requestId);
        if (fromDb) return working.task(fromDb.id);
        const id = byRequestId.get(requestId);
        return id ? working.task(id) : null;
      },
      confirmation: (id) => confirmations.get(id) ?? readConfirmation(id),
      confirmationByRequest(taskId, requestId) {
        for (const c of [...confirmations.values(), ...changes.confirmations.values()]) {
          if (c.taskId === taskId && c.requestId === requestId) return c;
        }
        const fromDb = loaded.confirmationRequests.get(`${taskId}\u0000${requestId}`);
        if (fromDb) return working.confirmation(fromDb.id);
        for (const c of [...pendingConfirmations.values(), ...recentConfirmations.values()]) {
          if (c.taskId === taskId && c.requestId === requestId) return working.confirmation(c.id);
        }
        return null;
      },
      putTask: (t) => void tasks.set(t.id, t),
      putConfirmation: (c) => void confirmations.set(c.id, c),
      emit: (e) => void events.push(e),
    };

    batch.forEach(({ mutation }, index) => {
      tasks.clear();
      confirmations.clear();
      events = [];
      try {
        const value = mutation.apply(working);
        for (const t of tasks.values()) {
          if (!changes.baseRevisions.has(t.id)) changes.baseRevisions.set(t.id, readTask(t.id)?.revision ?? 0);
          changes.tasks.set(t.id, t);
        }
        for (const c of confirmations.values()) {
          if (!readConfirmation(c.id)) changes.newConfirmations.add(c.id);
          changes.confirmations.set(c.id, c);
        }
        for (const event of events) changes.events.push({ owner: index, event });
        results.push({ ok: true, value });
      } catch (error) {
        results.push({ ok: false, error });
      }
    });
    return { changes, results };
  }

  async function write(trx: Knex.Transaction, changes: Changes, now: number): Promise<SequencedEvent[]> {
    if (dialect === "postgresql") {
      // Serialises committers across replicas so sequence order is commit order.
      await trx.raw("select pg_advisory_xact_lock(7215001)");
    }
    const inserts: Task[] = [];
    const updates: Task[] = [];
    for (const t of changes.tasks.values()) (changes.baseRevisions.get(t.id) ? updates : inserts).push(t);
    await insertRows(trx, "tasks", inserts.map(taskToRow));
    for (const part of chunks(updates, 400)) {
      const updated = await updateTasks(trx, part, changes.baseRevisions);
      if (updated !== part.length) throw new ConflictError("a task changed under the batch");
    }
    const newConfirmations: Confirmation[] = [];
    const changedConfirmations: Confirmation[] = [];
    for (const c of changes.confirmations.values()) {
      (changes.newConfirmations.has(c.id) ? newConfirmations : changedConfirmations).push(c);
    }
    await insertRows(trx, "confirmations", newConfirmations.map(confirmationToRow));
    for (const c of changedConfirmations) {
      // Only PENDING rows ever change: the first answer (or expiry, or cancel) wins.
      const n = await trx("confirmations")
        .where({ id: c.id, state: "pending" })
        .update({ state: c.state, action: c.action, answer_values: json(c.values), resolve_time: c.resolveTime });
      if (n !== 1) throw new ConflictError("a confirmation changed under the batch");
    }
    if (changes.events.length === 0) return [];
    // With direct publication (one writing process: SQLite) batches commit one at a time and
    // `last` moves at each commit, so it is the log's maximum; replicas sharing PostgreSQL
    // (feed publication) read it under the advisory lock.
    let sequence = last;
    if (dialect === "postgresql" || publication !== "direct") {
      const [{ s }] = (await trx("events").max({ s: "sequence" })) as { s: number | string | null }[];
      sequence = Number(s ?? 0);
    }
    const sequenced = changes.events.map(({ event }) => ({
      sequence: ++sequence,
      time: now,
      taskId: eventTaskId(event),
      owner: eventOwner(event),
      event,
    }));
    await insertRows(
      trx,
      "events",
      sequenced.map(
        (e): EventRow => ({
          sequence: e.sequence,
          time: e.time,
          task_id: e.taskId,
          owner: e.owner,
          type: e.event.type,
          payload: JSON.stringify(e.event),
        }),
      ),
      // Delivered only if this transaction commits; riding on the INSERT costs no round trip
      // while the advisory lock is held.
      dialect === "postgresql" && options.commitNotify
        ? { channel: options.commitNotify.channel, payload: `${sequence} ${options.commitNotify.origin}` }
        : undefined,
    );
    return sequenced;
  }

  /**
   * One UPDATE … FROM (VALUES …) for a chunk of changed tasks, guarded by each row's base
   * revision; returns how many rows matched (fewer means another writer got there first).
   */
  async function updateTasks(trx: Knex.Transaction, tasks: Task[], base: Map<string, number>): Promise<number> {
    // Only the columns some task of the chunk changed (a progress batch: progress, label,
    // checkpoint, update_time, revision) instead of all fourteen: fewer values to bind and write.
    const changed = new Set<string>(["update_time", "revision"]);
    for (const t of tasks) {
      const before = cachedTask(t.id);
      if (!before || before.revision !== base.get(t.id)) {
        for (const c of UPDATABLE_COLUMNS) changed.add(c);
        break;
      }
      const a = taskToRow(before) as unknown as Record<string, unknown>;
      const b = taskToRow(t) as unknown as Record<string, unknown>;
      for (const c of UPDATABLE_COLUMNS) if (a[c] !== b[c]) changed.add(c);
    }
    const cols = UPDATABLE_COLUMNS.filter((c) => changed.has(c));
    // PostgreSQL types a VALUES list from its parameters, which arrive untyped: cast them.
    const ph = (type: string): string => (dialect === "postgresql" ? `?::${type}` : "?");
    const rowSql = `(${[ph("text"), ph("bigint"), ...cols.map((c) => ph(PG_TYPES[c] ?? "text"))].join(", ")})`;
    const params: unknown[] = [];
    for (const t of tasks) {
      const row = taskToRow(t) as unknown as Record<string, unknown>;
      params.push(t.id, base.get(t.id) ?? 0, ...cols.map((c) => row[c]));
    }
    const sql =
      `with v(id, base_revision, ${cols.join(", ")}) as (values ${tasks.map(() => rowSql).join(", ")}) ` +
      `update tasks set ${cols.map((c) => `${c} = v.${c}`).join(", ")} from v ` +
      `where tasks.id = v.id and tasks.revision = v.base_revision returning tasks.id`;
    return (await execute(trx, sql, params)).length;
  }

  async function flushOnce(): Promise<void> {
    const batch = queue.splice(0, maxBatch);
    if (batch.length === 0) return;
    let outcome: ReturnType<typeof applyAll>;
    let events: SequencedEvent[];
    for (let attempt = 1; ; attempt++) {
      const now = clock();
      try {
        const loaded = await load(batch, attempt > 1);
        outcome = applyAll(batch, loaded, now);
        const { changes } = outcome;
        events =
          changes.tasks.size + changes.confirmations.size + changes.events.length === 0
            ? []
            : await knex.transaction((trx) => write(trx, changes, now));
        break;
      } catch (err) {
        if (isConflict(err) && attempt < MAX_ATTEMPTS) continue;
        // The cache only ever follows commits, so a failed batch leaves it true.
        options.onError?.(err);
        const failure = new UnavailableError("the store could not commit; retry", "STORE_UNAVAILABLE");
        for (const p of batch) p.reject(failure);
        return;
      }
    }
    // Committed: the cache follows, then listeners, then callers.
    const { changes } = outcome;
    try {
      options.verifyCommit?.();
      if (publication === "direct" || events.length === 0) {
        for (const t of changes.tasks.values()) remember(t);
        for (const c of changes.confirmations.values()) rememberConfirmation(c);
        if (events.length > 0) last = Math.max(last, events[events.length - 1]!.sequence);
        for (const l of batchListeners) l(batch.length);
        if (events.length > 0) for (const l of commitListeners) l(events);
      } else {
        for (const l of batchListeners) l(batch.length);
        if (!localCommitHandler) throw new Error("feed publication without an onLocalCommit handler");
        // Resolves once published: the cache, lastSequence() and listeners have followed.
        await localCommitHandler({
          events,
          tasks: [...changes.tasks.values()],
          confirmations: [...changes.confirmations.values()],
        });
      }
    } catch (err) {
      // A listener failed, or the feed closed first: the rows are durable, but the callers
      // cannot be told it went well; a retry with the same request id finds them.
      options.onError?.(err);
      const failure = err instanceof UnavailableError ? err : new UnavailableError("the store could not commit; retry", "STORE_UNAVAILABLE");
      for (const p of batch) p.reject(failure);
      return;
    }
    const perCaller = new Map<number, SequencedEvent[]>();
    changes.events.forEach(({ owner }, i) => {
      const list = perCaller.get(owner) ?? [];
      list.push(events[i]!);
      perCaller.set(owner, list);
    });
    outcome.results.forEach((r, i) => {
      if (r.ok) batch[i]!.resolve({ value: r.value, events: perCaller.get(i) ?? [] });
      else batch[i]!.reject(r.error);
    });
  }

  function isConflict(err: unknown): boolean {
    if (err instanceof ConflictError) return true;
    const text = String((err as { code?: unknown })?.code ?? "") + String((err as Error)?.message ?? "");
    return /23505|SQLITE_CONSTRAINT|UNIQUE constraint|40001|40P01/.test(text);
  }

  function schedule(): void {
    if (flushing) return;
    flushing = (async () => {
      // Let every call that arrived in this turn of the event loop join the batch.
      await new Promise<void>((r) => setImmediate(r));
      while (queue.length > 0) await flushOnce();
    })().finally(() => {
      flushing = null;
      if (queue.length > 0) schedule();
    });
  }

  // ---- the port ------------------------------------------------------------------------

  const store: SqlTaskStore = {
    async open() {
      const tasks = (await knex("tasks").whereNotIn("status", ["succeeded", "failed", "cancelled"])) as TaskRow[];
      for (const row of tasks) remember(rowToTask(row));
      const confirmations = (await knex("confirmations").where({ state: "pending" })) as ConfirmationRow[];
      for (const row of confirmations) rememberConfirmation(rowToConfirmation(row));
      const [{ s }] = (await knex("events").max({ s: "sequence" })) as { s: number | string | null }[];
      last = Number(s ?? 0);
    },

    mutate<R>(mutation: Mutation<R>): Promise<Committed<R>> {
      if (closed) return Promise.reject(new UnavailableError("the store is closed", "SHUTTING_DOWN"));
      return new Promise<Committed<R>>((resolve, reject) => {
        queue.push({ mutation, resolve, reject } as Pending<unknown>);
        schedule();
      });
    },

    async getTask(id) {
      const cached = cachedTask(id);
      if (cached) return cached;
      const [task] = await selectTasks("id", [id]);
      if (task) remember(task);
      return task ?? null;
    },

    peekTask: cachedTask,

    activeTasks({ owner, taskIds }) {
      const out: Task[] = [];
      for (const t of active.values()) {
        if (owner !== undefined && t.owner !== owner) continue;
        if (taskIds && !taskIds.has(t.id)) continue;
        out.push(t);
      }
      return out.sort(newestFirst);
    },

    async listTasks(query: TaskQuery) {
      const em = db.orm.em.fork();
      const where: Record<string, unknown> = {};
      if (query.owner !== undefined) where.owner = query.owner;
      if (query.statuses && query.statuses.length > 0) where.status = { $in: query.statuses };
      if (query.before) {
        const { createTime, id } = query.before;
        where.$or = [{ create_time: { $lt: createTime } }, { create_time: createTime, id: { $lt: id } }];
      }
      const rows = await em.find(TaskSchema, where, {
        orderBy: { create_time: "desc", id: "desc" },
        limit: query.limit,
      });
      return rows.map((r) => rowToTask(r as TaskRow));
    },

    async getConfirmation(id) {
      const cached = cachedConfirmation(id);
      if (cached) return cached;
      const [c] = await selectConfirmations([id]);
      if (c) rememberConfirmation(c);
      return c ?? null;
    },

    pendingConfirmations: () => [...pendingConfirmations.values()],

    async readEvents(after, limit) {
      const rows = (await knex("events").where("sequence", ">", after).orderBy("sequence", "asc").limit(limit)) as EventRow[];
      return rows.map(rowToEvent);
    },

    onLocalCommit(handler) {
      localCommitHandler = handler;
    },

    async readCommitted(after, limit) {
      if (dialect === "postgresql") {
        // One statement is one snapshot (rows no older than the events) and one round trip:
        // under a mixed load nearly every batch waits for such a read before its callers are
        // answered.
        const res = await knex.raw(READ_COMMITTED_PG, [after, limit]);
        const row = rowsOf(res)[0] as { events: EventRow[]; tasks: TaskRow[]; confirmations: ConfirmationRow[] };
        return {
          events: row.events.map(rowToEvent),
          tasks: row.tasks.map(rowToTask),
          confirmations: row.confirmations.map(rowToConfirmation),
        };
      }
      // SQLite (one writer, so only tests use this): a transaction is the snapshot.
      return knex.transaction(async (trx) => {
        const rows = (await trx("events").where("sequence", ">", after).orderBy("sequence", "asc").limit(limit)) as EventRow[];
        if (rows.length === 0) return { events: [], tasks: [], confirmations: [] };
        const events = rows.map(rowToEvent);
        const taskIds = new Set<string>();
        const confirmationIds = new Set<string>();
        for (const { taskId, event } of events) {
          taskIds.add(taskId);
          if (event.type === "confirmation_requested" || event.type === "confirmation_resolved") {
            confirmationIds.add(event.confirmation.id);
          }
          if (event.type === "status_changed" && event.pending) confirmationIds.add(event.pending.id);
        }
        const tasks = ((await trx("tasks").whereIn("id", [...taskIds])) as TaskRow[]).map(rowToTask);
        const confirmations =
          confirmationIds.size === 0
            ? []
            : ((await trx("confirmations").whereIn("id", [...confirmationIds])) as ConfirmationRow[]).map(rowToConfirmation);
        return { events, tasks, confirmations };
      });
    },

    publish({ events, tasks, confirmations }) {
      for (const t of tasks) rememberIfNewer(t);
      for (const c of confirmations) rememberConfirmationIfNewer(c);
      if (events.length === 0) return;
      last = Math.max(last, events[events.length - 1]!.sequence);
      for (const l of commitListeners) l(events);
    },

    async refresh() {
      const ids = [...active.keys(), ...recent.keys()];
      const unfinished = (await knex("tasks").whereNotIn("status", ["succeeded", "failed", "cancelled"])) as TaskRow[];
      for (const t of [...(await selectTasks("id", ids)), ...unfinished.map(rowToTask)]) rememberIfNewer(t);
      const confirmationIds = [...pendingConfirmations.keys()];
      const pending = (await knex("confirmations").where({ state: "pending" })) as ConfirmationRow[];
      for (const part of chunks(confirmationIds, 500)) {
        for (const c of await selectConfirmations(part)) rememberConfirmationIfNewer(c);
      }
      for (const row of pending) rememberConfirmationIfNewer(rowToConfirmation(row));
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

    async flush() {
      while (flushing) await flushing;
      closed = true;
    },

    async trimEvents({ maxEvents, maxAgeMs }) {
      // Never delete the newest event: the log's maximum is where sequences continue.
      const keepFrom = Math.max(last - maxEvents + 1, 0);
      const byCount = await knex("events").where("sequence", "<", Math.min(keepFrom, last)).del();
      const byAge = await knex("events")
        .where("time", "<", clock() - maxAgeMs)
        .andWhere("sequence", "<", last)
        .del();
      return Number(byCount) + Number(byAge);
    },

    async eventCount() {
      const [{ n }] = (await knex("events").count({ n: "*" })) as { n: number | string }[];
      return Number(n);
    },
  };
  return store;
}

// ---- row mapping -------------------------------------------------------------------------

const TASK_COLUMNS = [
  "id",
  "owner",
  "kind",
  "label",
  "status",
  "progress",
  "checkpoint",
  "result",
  "error_message",
  "error_details",
  "cancel_requested",
  "cancel_reason",
  "request_id",
  "pending_confirmation_id",
  "create_time",
  "update_time",
  "end_time",
  "revision",
] as const;

/**
 * readCommitted on PostgreSQL: events after $1 (at most $2) with the rows of the tasks and
 * confirmations they name, as three JSON arrays from one statement.
 */
const READ_COMMITTED_PG = `
with ev as (
  select sequence, time, task_id, owner, type, payload from events where sequence > ? order by sequence limit ?
)
select
  (select coalesce(json_agg(ev order by sequence), '[]') from ev) as events,
  (select coalesce(json_agg(t), '[]') from tasks t where t.id in (select task_id from ev)) as tasks,
  (select coalesce(json_agg(c), '[]') from confirmations c where c.id in (
    select payload::json -> 'confirmation' ->> 'id' from ev where type in ('confirmation_requested', 'confirmation_resolved')
    union all
    select payload::json -> 'pending' ->> 'id' from ev where type = 'status_changed'
  )) as confirmations`;

/** Columns an UPDATE may change (never the key, the owner, the creation time or the request id). */
const UPDATABLE_COLUMNS = TASK_COLUMNS.filter((c) => c !== "id" && c !== "owner" && c !== "create_time" && c !== "request_id");

const PG_TYPES: Record<string, string> = {
  progress: "double precision",
  cancel_requested: "boolean",
  update_time: "bigint",
  end_time: "bigint",
  revision: "int",
};

function json(value: JsonObject | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

function parse(value: string | null): JsonObject | null {
  return value === null ? null : (JSON.parse(value) as JsonObject);
}

function taskToRow(t: Task): TaskRow {
  return {
    id: t.id,
    owner: t.owner,
    kind: t.kind,
    label: t.label,
    status: t.status,
    progress: t.progress,
    checkpoint: json(t.checkpoint),
    result: json(t.result),
    error_message: t.errorMessage,
    error_details: json(t.errorDetails),
    cancel_requested: t.cancelRequested,
    cancel_reason: t.cancelReason,
    request_id: t.requestId,
    pending_confirmation_id: t.pendingConfirmationId,
    create_time: t.createTime,
    update_time: t.updateTime,
    end_time: t.endTime,
    revision: t.revision,
  };
}

function rowToTask(r: TaskRow): Task {
  return {
    id: r.id,
    owner: r.owner,
    kind: r.kind,
    label: r.label,
    status: r.status as TaskStatus,
    progress: Number(r.progress),
    checkpoint: parse(r.checkpoint),
    result: parse(r.result),
    errorMessage: r.error_message,
    errorDetails: parse(r.error_details),
    cancelRequested: Boolean(r.cancel_requested),
    cancelReason: r.cancel_reason,
    requestId: r.request_id,
    pendingConfirmationId: r.pending_confirmation_id,
    createTime: Number(r.create_time),
    updateTime: Number(r.update_time),
    endTime: r.end_time === null ? null : Number(r.end_time),
    revision: Number(r.revision),
  };
}

function rowToEvent(r: EventRow): SequencedEvent {
  return {
    sequence: Number(r.sequence),
    time: Number(r.time),
    taskId: r.task_id,
    owner: r.owner,
    event: JSON.parse(r.payload) as TaskEvent,
  };
}

function confirmationToRow(c: Confirmation): ConfirmationRow {
  return {
    id: c.id,
    task_id: c.taskId,
    owner: c.owner,
    surface_id: c.surfaceId,
    title: c.title,
    components: JSON.stringify(c.components),
    state: c.state,
    action: c.action,
    answer_values: json(c.values),
    request_id: c.requestId,
    create_time: c.createTime,
    expire_time: c.expireTime,
    resolve_time: c.resolveTime,
  };
}

function rowToConfirmation(r: ConfirmationRow): Confirmation {
  return {
    id: r.id,
    taskId: r.task_id,
    owner: r.owner,
    surfaceId: r.surface_id,
    title: r.title,
    components: JSON.parse(r.components) as Confirmation["components"],
    state: r.state as Confirmation["state"],
    action: r.action,
    values: parse(r.answer_values),
    requestId: r.request_id,
    createTime: Number(r.create_time),
    expireTime: r.expire_time === null ? null : Number(r.expire_time),
    resolveTime: r.resolve_time === null ? null : Number(r.resolve_time),
  };
}

function newestFirst(a: Task, b: Task): number {
  return b.createTime - a.createTime || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** knex.raw answers rows on SQLite and a pg Result on PostgreSQL. */
function rowsOf(res: unknown): unknown[] {
  return Array.isArray(res) ? res : ((res as { rows?: unknown[] }).rows ?? []);
}

/**
 * Multi-row INSERT … VALUES in chunks that stay under both engines' parameter limits. With
 * `notify` (PostgreSQL), the last chunk also runs pg_notify in the same statement.
 */
async function insertRows(
  trx: Knex.Transaction,
  table: string,
  rows: object[],
  notify?: { channel: string; payload: string },
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const perChunk = Math.max(1, Math.floor(30_000 / columns.length));
  const rowSql = `(${columns.map(() => "?").join(", ")})`;
  const parts = [...chunks(rows, perChunk)];
  for (const [i, part] of parts.entries()) {
    const params = part.flatMap((r) => columns.map((c) => (r as Record<string, unknown>)[c] ?? null));
    const insert = `insert into ${table} (${columns.join(", ")}) values ${part.map(() => rowSql).join(", ")}`;
    if (notify && i === parts.length - 1) {
      // A data-modifying WITH runs to completion whether or not the outer query reads it.
      await trx.raw(`with ins as (${insert}) select pg_notify(?, ?)`, [
        ...params,
        notify.channel,
        notify.payload,
      ] as Knex.RawBinding[]);
    } else {
      await execute(trx, insert, params);
    }
  }
}

/** The sqlite3 driver's connection, as much of it as the batch writer uses. */
interface SqliteConnection {
  all(sql: string, params: unknown[], callback: (err: Error | null, rows: unknown[]) => void): void;
}

/**
 * Runs one statement of a batch in its transaction and answers its rows. On SQLite it goes
 * straight to the transaction's sqlite3 connection: for statements with thousands of
 * bindings, knex's per-binding formatting cost more than SQLite's own work (profiled).
 */
async function execute(trx: Knex.Transaction, sql: string, params: unknown[]): Promise<unknown[]> {
  if (trx.client.dialect === "postgresql") {
    return rowsOf(await trx.raw(sql, params as Knex.RawBinding[]));
  }
  const conn = (await trx.client.acquireConnection()) as SqliteConnection;
  return new Promise((resolve, reject) => conn.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
}
