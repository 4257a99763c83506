import { FailedPreconditionError } from "./errors.js";
import type { Confirmation, SequencedEvent, Task } from "./model.js";
import { isTerminal } from "./model.js";
import type { TaskStore, Timers, Working } from "./ports.js";
import type { LeaseCounts } from "./task-manager-api.js";
import { changed, endPending } from "./transitions.js";

/** Longest delay a node timer takes; a later due time is re-armed when it fires. */
const TIMER_MAX_MS = 2 ** 31 - 1;
/** The persisted expiry is renewed this long before it passes (at most 1 s, a quarter lease for short ones). */
const RENEW_MARGIN_MS = 1000;
/**
 * A lapse is tried this long after the expiry: time for the replica that saw a late call (one
 * after the renewal point) to commit its renewal, which it does at the expiry itself, before
 * a replica that saw nothing stalls the task.
 */
export const LAPSE_SLACK_MS = 250;

/** Options of createLeases. */
export interface LeasesOptions {
  store: TaskStore;
  clock: () => number;
  timers: Timers;
  /** A stall older than this many ms fails the task; 0 = never. */
  stallFailAfterMs: number;
  /** Told when a lapse, a renewal or a stall failure could not commit (the next timer or start retries). */
  onError: (err: unknown, taskId: string) => void;
}

/**
 * The leases of workers, in memory on the replica that serves their calls. A call of the
 * current attempt only moves `lastCall` (no timer work, no row write); one timer per leased
 * task fires at the earliest time something may be due and re-arms itself lazily. The
 * persisted lease_expire_time is renewed shortly before it passes when a newer call (or an
 * open RequestConfirmation call) is known here, so it moves at most about once per lease
 * duration; other replicas and restarts read it. A lapse is a mutation that re-checks the
 * committed row, so a late, duplicate or other replica's timer changes nothing.
 */
export interface Leases {
  /** Start-up: every running lease gets a grace of its own duration before it may lapse. */
  open(): void;
  /** Sees committed events: tracks leased tasks, forgets finished ones. */
  onEvents(events: readonly SequencedEvent[]): void;
  /** A call of the task's current attempt arrived: the lease runs from now. */
  touch(task: Task): void;
  /** An open RequestConfirmation call of the task keeps its lease alive until the returned release. */
  hold(task: Task): () => void;
  /** The lease's expiry as known here (the persisted one, or later from calls seen here); null without a lease. */
  expiryOf(task: Task): number | null;
  /** The task with its in-memory expiry overlaid (what reads answer). */
  overlay(task: Task): Task;
  readonly counts: Readonly<LeaseCounts>;
  /** Counts a claim (the manager commits it). */
  claimed(): void;
  /** Counts a recovery (the manager commits it). */
  recovered(): void;
  /** Stops every timer. */
  close(): void;
}

interface Entry {
  attempt: number;
  /** Time of the last call of `attempt` seen here; -Infinity if none. */
  lastCall: number;
  /** Start-up grace: no lapse before this. */
  graceUntil: number;
  /** Open RequestConfirmation calls held here. */
  holds: number;
  timer: unknown;
  dueAt: number;
}

/** Throws ATTEMPT_SUPERSEDED unless `attempt` is 0 (not checked) or the task's current one. */
export function assertAttempt(task: Task, attempt: number | bigint | undefined): void {
  const a = Number(attempt ?? 0);
  if (a === 0 || a === task.attempt) return;
  const what = a < task.attempt ? "was superseded by a claim" : "was never handed out";
  throw new FailedPreconditionError(`attempt ${a} of task ${task.id} ${what}; the current attempt is ${task.attempt}`, "ATTEMPT_SUPERSEDED", {
    current_attempt: String(task.attempt),
    attempt: String(a),
  });
}

/**
 * Moves a stalled task back: to waiting_confirmation when a confirmation is still pending,
 * else running; the lease runs from now. Returns the new task (already put and emitted), or
 * null when it was not stalled.
 */
export function recoverStalled(w: Working, task: Task): Task | null {
  if (task.status !== "stalled") return null;
  const pending: Confirmation | null = task.pendingConfirmationId ? w.confirmation(task.pendingConfirmationId) : null;
  const waiting = pending !== null && pending.state === "pending";
  const next = changed(
    task,
    {
      status: waiting ? "waiting_confirmation" : "running",
      stallTime: null,
      leaseExpireTime: task.leaseDurationMs ? w.now + task.leaseDurationMs : null,
    },
    w.now,
  );
  w.putTask(next);
  w.emit(waiting ? { type: "status_changed", task: next, pending } : { type: "status_changed", task: next });
  return next;
}

/** Builds the lease tracker of one replica. */
export function createLeases(options: LeasesOptions): Leases {
  const { store, clock, timers, stallFailAfterMs, onError } = options;
  const entries = new Map<string, Entry>();
  const counts: LeaseCounts = { expired: 0, recovered: 0, claims: 0, stallsFailed: 0 };
  let closed = false;

  const margin = (dur: number): number => Math.min(RENEW_MARGIN_MS, dur / 4);

  /** The expiry memory knows (calls, holds, grace), regardless of the persisted one. */
  function memoryExpiry(e: Entry, dur: number, now: number): number {
    if (e.holds > 0) return now + dur;
    return Math.max(e.lastCall + dur, e.graceUntil);
  }

  function entryFor(task: Task): Entry {
    let e = entries.get(task.id);
    if (!e) {
      e = { attempt: task.attempt, lastCall: -Infinity, graceUntil: 0, holds: 0, timer: null, dueAt: Infinity };
      entries.set(task.id, e);
    } else if (e.attempt !== task.attempt) {
      // A claim (here or on another replica): calls seen for the old attempt no longer count.
      e.attempt = task.attempt;
      e.lastCall = -Infinity;
      e.graceUntil = 0;
    }
    return e;
  }

  /** Arms the task's timer for `at` unless it already fires no later (it then re-arms itself). */
  function arm(id: string, e: Entry, at: number): void {
    if (closed) return;
    if (e.timer !== null && e.dueAt <= at) return;
    if (e.timer !== null) timers.clearTimeout(e.timer);
    e.dueAt = at;
    e.timer = timers.setTimeout(() => {
      e.timer = null;
      e.dueAt = Infinity;
      fire(id).catch((err: unknown) => onError(err, id));
    }, Math.min(Math.max(0, at - clock()), TIMER_MAX_MS));
  }

  function forget(id: string): void {
    const e = entries.get(id);
    if (!e) return;
    if (e.timer !== null) timers.clearTimeout(e.timer);
    entries.delete(id);
  }

  /** Starts or refreshes tracking of a task as committed; arms its timer for the earliest due time. */
  function track(task: Task): void {
    if (isTerminal(task.status) || (!task.leaseDurationMs && task.status !== "stalled")) return forget(task.id);
    const e = entryFor(task);
    if (task.status === "stalled") {
      if (stallFailAfterMs > 0 && task.stallTime !== null) arm(task.id, e, task.stallTime + stallFailAfterMs);
      return;
    }
    // Every check point already passed (a renewal that committed late): check at once.
    const now = clock();
    arm(task.id, e, nextDue(task, e, now) ?? now);
  }

  /**
   * The next time this task's timer has something to check: the renewal point (persisted
   * expiry - margin), the expiry itself (a late call is renewed then), the lapse point
   * (expiry or grace, + slack); null when all have passed (a lapse is due now).
   */
  function nextDue(task: Task, e: Entry, now: number): number | null {
    const dur = task.leaseDurationMs!;
    const persisted = task.leaseExpireTime ?? task.updateTime + dur;
    for (const at of [persisted - margin(dur), persisted, Math.max(persisted, e.graceUntil) + LAPSE_SLACK_MS]) {
      if (at > now) return at;
    }
    return null;
  }

  async function fire(id: string): Promise<void> {
    if (closed) return;
    const e = entries.get(id);
    if (!e) return;
    const task = store.peekTask(id) ?? (await store.getTask(id));
    if (!task || isTerminal(task.status)) return forget(id);
    const now = clock();
    if (task.status === "stalled") {
      if (stallFailAfterMs <= 0 || task.stallTime === null) return;
      if (task.stallTime + stallFailAfterMs > now) return track(task);
      await failStalled(task);
      return;
    }
    const dur = task.leaseDurationMs;
    if (!dur) return forget(id);
    if (e.attempt !== task.attempt) entryFor(task);
    if (e.holds > 0) e.lastCall = now;
    const persisted = task.leaseExpireTime ?? task.updateTime + dur;
    const fromCalls = e.lastCall + dur;
    if (fromCalls > persisted) {
      // Calls seen here outlive the persisted expiry: renew it once, near its end.
      if (now < persisted - margin(dur)) return arm(id, e, persisted - margin(dur));
      await renew(task, fromCalls);
      return track(store.peekTask(id) ?? task);
    }
    const due = nextDue(task, e, now);
    if (due !== null) return arm(id, e, due);
    const after = await lapse(task);
    if (after && !isTerminal(after.status)) track(after);
  }

  /** Writes a later lease_expire_time for the current attempt (no event: nothing a watcher must see changed). */
  async function renew(task: Task, until: number): Promise<void> {
    await store.mutate({
      keys: { tasks: [task.id] },
      apply(w) {
        const t = w.task(task.id);
        if (!t || isTerminal(t.status) || t.status === "stalled" || t.attempt !== task.attempt || !t.leaseDurationMs) return;
        if ((t.leaseExpireTime ?? 0) >= until) return;
        w.putTask({ ...t, leaseExpireTime: until, revision: t.revision + 1 });
      },
    });
  }

  /**
   * The lapse: re-checks the committed row (not finished or stalled, same attempt, persisted
   * expiry passed) and this replica's memory (no newer call, no held call), then stalls the
   * task. On PostgreSQL, a second replica's lapse conflicts on the row's revision, re-runs
   * against the stalled row and does nothing: one event.
   */
  async function lapse(task: Task): Promise<Task | null> {
    const { value } = await store.mutate({
      keys: { tasks: [task.id] },
      apply(w): { task: Task | null; lapsed: boolean } {
        const t = w.task(task.id);
        if (!t || isTerminal(t.status) || t.status === "stalled" || t.attempt !== task.attempt || !t.leaseDurationMs) {
          return { task: t, lapsed: false };
        }
        const persisted = t.leaseExpireTime ?? t.updateTime + t.leaseDurationMs;
        const e = entries.get(t.id);
        const known = e && e.attempt === t.attempt ? memoryExpiry(e, t.leaseDurationMs, w.now) : -Infinity;
        if (persisted > w.now || known > w.now) return { task: t, lapsed: false };
        const next = changed(t, { status: "stalled", stallTime: w.now }, w.now);
        w.putTask(next);
        w.emit({ type: "status_changed", task: next });
        return { task: next, lapsed: true };
      },
    });
    if (value.lapsed) counts.expired++;
    return value.task;
  }

  /** --stall-fail-after-ms: a stall that lasted that long fails the task, with details. */
  async function failStalled(task: Task): Promise<void> {
    const { value } = await store.mutate({
      keys: { tasks: [task.id] },
      apply(w): boolean {
        const t = w.task(task.id);
        if (!t || t.status !== "stalled" || t.stallTime !== task.stallTime || t.stallTime === null) return false;
        const lastWord = t.leaseExpireTime !== null && t.leaseDurationMs ? t.leaseExpireTime - t.leaseDurationMs : t.stallTime;
        endPending(w, t);
        const next = changed(
          t,
          {
            status: "failed",
            errorMessage: `no word from the worker for ${Math.round((w.now - lastWord) / 1000)} s (attempt ${t.attempt}): the lease lapsed and the stall passed --stall-fail-after-ms`,
            errorDetails: {
              reason: "STALLED",
              attempt: t.attempt,
              stall_time: new Date(t.stallTime).toISOString(),
              stall_fail_after_ms: stallFailAfterMs,
              lease_duration_ms: t.leaseDurationMs ?? 0,
            },
            pendingConfirmationId: null,
            endTime: w.now,
          },
          w.now,
        );
        w.putTask(next);
        w.emit({ type: "status_changed", task: next });
        return true;
      },
    });
    if (value) counts.stallsFailed++;
    forget(task.id);
  }

  return {
    open() {
      const now = clock();
      // Nothing is tracked yet: only leased and stalled tasks need an entry (order does not matter).
      for (const t of store.activeTasks({ unordered: true })) {
        if (!t.leaseDurationMs && t.status !== "stalled") continue;
        if (t.leaseDurationMs && t.status !== "stalled") entryFor(t).graceUntil = now + t.leaseDurationMs;
        track(t);
      }
    },

    onEvents(events) {
      for (const { event } of events) {
        if (event.type === "task_created" || event.type === "status_changed") track(event.task);
      }
    },

    touch(task) {
      if (!task.leaseDurationMs || isTerminal(task.status)) return;
      let e = entries.get(task.id);
      if (!e || e.attempt !== task.attempt) {
        e = entryFor(task);
        track(task);
      }
      e.lastCall = clock();
    },

    hold(task) {
      if (!task.leaseDurationMs || isTerminal(task.status)) return () => undefined;
      const e = entryFor(task);
      track(task);
      e.holds++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        e.holds--;
        // The lease runs from the drop.
        if (e.attempt === task.attempt) e.lastCall = clock();
      };
    },

    expiryOf(task) {
      if (!task.leaseDurationMs || isTerminal(task.status)) return null;
      const persisted = task.leaseExpireTime ?? task.updateTime + task.leaseDurationMs;
      if (task.status === "stalled") return persisted;
      const e = entries.get(task.id);
      if (!e || e.attempt !== task.attempt) return persisted;
      return Math.max(persisted, memoryExpiry(e, task.leaseDurationMs, clock()));
    },

    overlay(task) {
      const expiry = this.expiryOf(task);
      return expiry === task.leaseExpireTime || expiry === null ? task : { ...task, leaseExpireTime: expiry };
    },

    counts,
    claimed: () => void counts.claims++,
    recovered: () => void counts.recovered++,

    close() {
      closed = true;
      for (const e of entries.values()) if (e.timer !== null) timers.clearTimeout(e.timer);
      entries.clear();
    },
  };
}
