import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { createConfirmationWaits } from "./confirmation-waits.js";
import { assertAttempt, createLeases, recoverStalled } from "./leases.js";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "./errors.js";
import type { Confirmation, JsonObject, SequencedEvent, Task, TaskEvent } from "./model.js";
import { isTerminal } from "./model.js";
import type { CallSignal, TaskQuery, WatchItem, WatchOptions, WatchRequest, WatchSource } from "./ports.js";
import { NODE_TIMERS } from "./ports.js";
import { assertNotTerminal, clampProgress } from "./rules.js";
import type {
  ClaimTaskInput,
  CreateTaskInput,
  HeartbeatOutcome,
  EmitProgressInput,
  ManagerState,
  ProgressOutcome,
  RequestConfirmationInput,
  ResolveConfirmationInput,
  TaskEventsQuery,
  TaskManager,
  TaskManagerOptions,
  UpdateProgressInput,
} from "./task-manager-api.js";
import { finishMutation, requestConfirmationMutation, resolveConfirmationMutation } from "./mutations.js";
import { notFound, outcomeOf } from "./progress-outcomes.js";
import { changed, mustTask, progressed } from "./transitions.js";

export type * from "./task-manager-api.js";
/**
 * Builds the task manager. It owns the state machine, clamping, the checks that need state (input
 * shape is checked at the service edge: service/validation.ts), the waits of
 * held confirmations and their expiry timers; it never touches a transport or a driver.
 */
export function createTaskManager(options: TaskManagerOptions): TaskManager {
  const { store, live } = options;
  const clock = options.clock ?? Date.now;
  const ids = options.ids ?? randomUUID;
  const onError = options.onError ?? ((err, context) => console.error("confirmation expiry failed", context, err));
  const watchSource: WatchSource =
    options.watch ??
    (() => {
      throw new Error("this task manager was built without a watch source");
    });
  const onAnswer = options.onAnswer ?? (() => {});
  let state: ManagerState = "opening";
  const waits = createConfirmationWaits({
    store,
    clock,
    timers: options.timers ?? NODE_TIMERS,
    onExpiryError: (err, confirmationId) => onError(err, { confirmationId }),
  });
  const leases = createLeases({
    store,
    clock,
    timers: options.timers ?? NODE_TIMERS,
    stallFailAfterMs: options.stallFailAfterMs ?? 0,
    onError: options.onLeaseError ?? ((err, taskId) => console.error("lease check failed", { taskId }, err)),
  });

  /**
   * A stalled task whose current attempt called: back to running (or waiting_confirmation),
   * pushed. Only a stalled task costs this mutation; the caller's attempt is checked in it.
   */
  async function recover(taskId: string, attempt: number): Promise<Task | null> {
    const { value } = await store.mutate({
      keys: { tasks: [taskId] },
      apply(w): { task: Task; recovered: boolean } | null {
        const t = w.task(taskId);
        if (!t) return null;
        assertAttempt(t, attempt);
        const next = recoverStalled(w, t);
        return { task: next ?? t, recovered: next !== null };
      },
    });
    if (!value) return null;
    if (value.recovered) leases.recovered();
    leases.touch(value.task);
    return value.task;
  }

  function assertOpen(): void {
    if (state !== "open") throw new UnavailableError(`task manager is ${state}; retry later`, state === "opening" ? "NOT_READY" : "SHUTTING_DOWN");
  }

  /** A terminal transition (mutations.ts finishMutation), once the manager is open. */
  async function finish(...args: Parameters<typeof finishMutation>): Promise<Task> {
    assertOpen();
    const { value } = await store.mutate(finishMutation(...args));
    return value;
  }

  /** Pushes one live line for a known task; a finished task takes none, as its row takes no updates. */
  function emitFor(task: Task, input: EmitProgressInput, progress: number | undefined): ProgressOutcome | Promise<ProgressOutcome> {
    assertAttempt(task, input.attempt);
    if (isTerminal(task.status)) {
      return outcomeOf(false, task.status, task.cancelRequested);
    }
    if (task.status === "stalled") {
      return recover(task.id, input.attempt ?? 0).then((t) => (t ? emitFor(t, input, progress) : notFound()));
    }
    leases.touch(task);
    const event: TaskEvent = {
      type: "progress",
      taskId: task.id,
      owner: task.owner,
      progress: progress ?? task.progress,
      label: input.label ?? task.label,
      checkpoint: input.checkpoint ?? null,
      persisted: false,
    };
    live.publish([{ sequence: store.lastSequence(), time: clock(), taskId: task.id, owner: task.owner, event }]);
    return outcomeOf(true, task.status, task.cancelRequested);
  }

  return {
    open(): void {
      state = "open";
      for (const c of store.pendingConfirmations()) waits.schedule(c);
      leases.open();
    },

    drain(): void {
      if (state === "open" || state === "opening") state = "draining";
    },

    close(): void {
      state = "closed";
      waits.close();
      leases.close();
    },

    state(): ManagerState {
      return state;
    },

    onEvents(events: readonly SequencedEvent[]): void {
      waits.onEvents(events);
      leases.onEvents(events);
    },

    async createTask(input: CreateTaskInput): Promise<Task> {
      assertOpen();
      const { value } = await store.mutate({
        keys: input.requestId ? { taskRequestIds: [input.requestId] } : {},
        apply(w) {
          if (input.requestId) {
            const existing = w.taskByRequestId(input.requestId);
            if (existing) {
              if (existing.owner !== input.owner) {
                throw new FailedPreconditionError("request_id was already used for another owner's task", "REQUEST_ID_CONFLICT");
              }
              return existing;
            }
          }
          const task: Task = {
            id: `t-${ids()}`,
            owner: input.owner,
            kind: input.kind,
            label: input.label,
            status: "running",
            progress: 0,
            checkpoint: input.checkpoint,
            result: null,
            errorMessage: "",
            errorDetails: null,
            cancelRequested: false,
            cancelReason: "",
            requestId: input.requestId || null,
            pendingConfirmationId: null,
            createTime: w.now,
            updateTime: w.now,
            endTime: null,
            revision: 1,
            attempt: 1,
            leaseDurationMs: input.leaseDurationMs || null,
            leaseExpireTime: input.leaseDurationMs ? w.now + input.leaseDurationMs : null,
            stallTime: null,
            claimRequestId: null,
          };
          w.putTask(task);
          w.emit({ type: "task_created", task });
          return task;
        },
      });
      return value;
    },

    async getTask(taskId: string): Promise<Task> {
      assertOpen();
      const task = await store.getTask(taskId);
      if (!task) throw new NotFoundError(`task ${taskId} not found`);
      return leases.overlay(task);
    },

    currentTask(taskId: string): Promise<Task | null> {
      const cached = store.peekTask(taskId);
      return cached ? Promise.resolve(cached) : store.getTask(taskId);
    },

    async pendingConfirmationOf(task: Task): Promise<Confirmation | null> {
      if (!task.pendingConfirmationId) return null;
      return store.getConfirmation(task.pendingConfirmationId);
    },

    async listTasks(query: TaskQuery): Promise<Task[]> {
      assertOpen();
      return store.listTasks(query);
    },

    updateProgress(input: UpdateProgressInput): Promise<ProgressOutcome> {
      assertOpen();
      const progress = clampProgress(input.progress);
      return store.mutate({
        keys: { tasks: [input.taskId] },
        apply(w): ProgressOutcome {
          const current = w.task(input.taskId);
          if (!current) return notFound();
          assertAttempt(current, input.attempt);
          if (isTerminal(current.status)) {
            return outcomeOf(false, current.status, current.cancelRequested);
          }
          const recovered = recoverStalled(w, current);
          if (recovered) leases.recovered();
          const task = recovered ?? current;
          leases.touch(task);
          const next = progressed(task, { progress, label: input.label, checkpoint: input.checkpoint }, w.now);
          w.putTask(next);
          w.emit({
            type: "progress",
            taskId: next.id,
            owner: next.owner,
            progress,
            label: next.label,
            checkpoint: next.checkpoint,
            persisted: true,
          });
          return outcomeOf(true, next.status, next.cancelRequested);
        },
      }).then((c) => c.value);
    },

    emitProgress(input: EmitProgressInput): Promise<ProgressOutcome> {
      assertOpen();
      const progress = input.progress === undefined ? undefined : clampProgress(input.progress);
      const cached = store.peekTask(input.taskId);
      if (cached) {
        try {
          return Promise.resolve(emitFor(cached, input, progress));
        } catch (err) {
          return Promise.reject(err);
        }
      }
      return store.getTask(input.taskId).then((task) => (task ? emitFor(task, input, progress) : notFound()));
    },

    async requestConfirmation(input: RequestConfirmationInput): Promise<Confirmation> {
      assertOpen();
      const { value } = await store.mutate(requestConfirmationMutation(input, ids, leases));
      return value;
    },

    waitFor(confirmation: Confirmation, signal: CallSignal): Promise<Confirmation | null> {
      // An open call keeps the task's lease alive; when it ends, the lease runs from then.
      const task = store.peekTask(confirmation.taskId);
      const wait = waits.waitFor(confirmation, signal);
      if (!task?.leaseDurationMs) return wait;
      const release = leases.hold(task);
      return wait.then(
        (c) => (release(), c),
        (err: unknown) => {
          release();
          throw err;
        },
      );
    },

    heldConfirmations(): number {
      return waits.held();
    },

    async resolveConfirmation(input: ResolveConfirmationInput): Promise<Confirmation> {
      assertOpen();
      const existing = await store.getConfirmation(input.confirmationId);
      if (!existing || (input.owner !== undefined && existing.owner !== input.owner)) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
      const { value } = await store.mutate(resolveConfirmationMutation(input, existing.taskId));
      if (value.fresh) onAnswer(value.confirmation);
      return value.confirmation;
    },

    listTaskEvents(query: TaskEventsQuery): Promise<SequencedEvent[]> {
      assertOpen();
      return store.readTaskEvents(query.taskId, query.afterSequence, query.limit);
    },

    completeTask(input: { taskId: string; result: JsonObject | null; attempt?: number }): Promise<Task> {
      return finish(input.taskId, "complete it", () => ({ status: "succeeded", progress: 1, result: input.result }), {
        attempt: input.attempt,
        // The same (or no) result again: the retry of a CompleteTask whose answer was lost.
        retried: (t) => t.status === "succeeded" && (input.result === null || isDeepStrictEqual(t.result, input.result)),
      });
    },

    failTask(input: { taskId: string; errorMessage: string; details: JsonObject | null; attempt?: number }): Promise<Task> {
      return finish(
        input.taskId,
        "fail it",
        () => ({ status: "failed", errorMessage: input.errorMessage, errorDetails: input.details }),
        {
          attempt: input.attempt,
          // The same message (and the same or no details) again is a retry; another is a new failure.
          retried: (t) =>
            t.status === "failed" &&
            t.errorMessage === input.errorMessage &&
            (input.details === null || isDeepStrictEqual(t.errorDetails, input.details)),
        },
      );
    },

    cancelTask(input: { taskId: string; reason: string }): Promise<Task> {
      return finish(
        input.taskId,
        "cancel it",
        () => ({ status: "cancelled", cancelRequested: true, cancelReason: input.reason }),
        // Cancelling a cancelled task is a retry whatever its reason: the first reason stays.
        { retried: (t) => t.status === "cancelled" },
      );
    },

    async heartbeat(input: { taskId: string; attempt: number }): Promise<HeartbeatOutcome> {
      assertOpen();
      let task = store.peekTask(input.taskId) ?? (await store.getTask(input.taskId));
      if (!task) return { found: false, status: null, cancelRequested: false, leaseExpireTime: null };
      assertAttempt(task, input.attempt);
      if (task.status === "stalled") task = (await recover(task.id, input.attempt)) ?? task;
      else leases.touch(task);
      return { found: true, status: task.status, cancelRequested: task.cancelRequested, leaseExpireTime: leases.expiryOf(task) };
    },

    async claimTask(input: ClaimTaskInput): Promise<Task> {
      assertOpen();
      const { value } = await store.mutate({
        keys: { tasks: [input.taskId] },
        apply(w): { task: Task; claimed: boolean } {
          const task = mustTask(w, input.taskId);
          if (input.requestId && task.claimRequestId === input.requestId) return { task, claimed: false };
          assertNotTerminal(task, "claim it");
          const lease = input.leaseDurationMs || task.leaseDurationMs || null;
          const pending = task.pendingConfirmationId ? w.confirmation(task.pendingConfirmationId) : null;
          const waiting = pending !== null && pending.state === "pending";
          const next = changed(
            task,
            {
              attempt: task.attempt + 1,
              status: waiting ? "waiting_confirmation" : "running",
              stallTime: null,
              leaseDurationMs: lease,
              leaseExpireTime: lease ? w.now + lease : null,
              claimRequestId: input.requestId || null,
            },
            w.now,
          );
          w.putTask(next);
          // Watchers see the new attempt (and a stalled task running again).
          w.emit(waiting ? { type: "status_changed", task: next, pending } : { type: "status_changed", task: next });
          return { task: next, claimed: true };
        },
      });
      if (value.claimed) leases.claimed();
      return leases.overlay(value.task);
    },

    leaseCounts() {
      return { ...leases.counts };
    },

    watch(request: WatchRequest, signal: CallSignal, watchOptions: WatchOptions): AsyncIterable<WatchItem> {
      assertOpen();
      return watchSource(request, signal, watchOptions);
    },
  };
}
