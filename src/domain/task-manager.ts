import { randomUUID } from "node:crypto";
import { createConfirmationWaits } from "./confirmation-waits.js";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "./errors.js";
import type { Confirmation, JsonObject, SequencedEvent, Task, TaskEvent } from "./model.js";
import { isTerminal } from "./model.js";
import type { TaskQuery, WatchItem, WatchOptions, WatchRequest, WatchSource } from "./ports.js";
import { NODE_TIMERS } from "./ports.js";
import { assertMayAnswer, assertNotTerminal, clampProgress, isSameAnswer, validateAnswer } from "./rules.js";
import type {
  CreateTaskInput,
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
import { changed, endConfirmation, endPending, mustTask, resumeAfter } from "./transitions.js";

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

  function assertOpen(): void {
    if (state !== "open") throw new UnavailableError(`task manager is ${state}; retry later`, state === "opening" ? "NOT_READY" : "SHUTTING_DOWN");
  }

  async function finish(
    taskId: string,
    what: string,
    patch: (task: Task, now: number) => Partial<Task>,
  ): Promise<Task> {
    assertOpen();
    const { value } = await store.mutate({
      keys: { tasks: [taskId] },
      apply(w) {
        const task = mustTask(w, taskId);
        assertNotTerminal(task, what);
        endPending(w, task);
        const next = changed(task, { ...patch(task, w.now), pendingConfirmationId: null, endTime: w.now }, w.now);
        w.putTask(next);
        w.emit({ type: "status_changed", task: next });
        return next;
      },
    });
    return value;
  }

  /** Pushes one live line for a known task; a finished task takes none, as its row takes no updates. */
  function emitFor(task: Task, input: EmitProgressInput, progress: number | undefined): ProgressOutcome {
    if (isTerminal(task.status)) {
      return { found: true, applied: false, status: task.status, cancelRequested: task.cancelRequested };
    }
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
    return { found: true, applied: true, status: task.status, cancelRequested: task.cancelRequested };
  }

  return {
    open(): void {
      state = "open";
      for (const c of store.pendingConfirmations()) waits.schedule(c);
    },

    drain(): void {
      if (state === "open" || state === "opening") state = "draining";
    },

    close(): void {
      state = "closed";
      waits.close();
    },

    state(): ManagerState {
      return state;
    },

    onEvents(events: readonly SequencedEvent[]): void {
      waits.onEvents(events);
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
      return task;
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
          const task = w.task(input.taskId);
          if (!task) return notFound();
          if (isTerminal(task.status)) {
            return { found: true, applied: false, status: task.status, cancelRequested: task.cancelRequested };
          }
          const next = changed(
            task,
            {
              progress,
              ...(input.checkpoint !== undefined ? { checkpoint: input.checkpoint } : {}),
              ...(input.label !== undefined ? { label: input.label } : {}),
            },
            w.now,
          );
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
          return { found: true, applied: true, status: next.status, cancelRequested: next.cancelRequested };
        },
      }).then((c) => c.value);
    },

    emitProgress(input: EmitProgressInput): Promise<ProgressOutcome> {
      assertOpen();
      const progress = input.progress === undefined ? undefined : clampProgress(input.progress);
      const cached = store.peekTask(input.taskId);
      if (cached) return Promise.resolve(emitFor(cached, input, progress));
      return store.getTask(input.taskId).then((task) => (task ? emitFor(task, input, progress) : notFound()));
    },

    async requestConfirmation(input: RequestConfirmationInput): Promise<Confirmation> {
      assertOpen();
      const { value } = await store.mutate({
        keys: {
          tasks: [input.taskId],
          confirmationRequests: input.requestId ? [{ taskId: input.taskId, requestId: input.requestId }] : [],
        },
        apply(w): Confirmation {
          const task = mustTask(w, input.taskId);
          if (input.requestId) {
            const previous = w.confirmationByRequest(task.id, input.requestId);
            if (previous) return previous;
          }
          assertNotTerminal(task, "request a confirmation");
          if (task.pendingConfirmationId) {
            throw new FailedPreconditionError(
              `task ${task.id} already has pending confirmation ${task.pendingConfirmationId}`,
              "CONFIRMATION_PENDING",
              { confirmation_id: task.pendingConfirmationId },
            );
          }
          const id = `c-${ids()}`;
          const confirmation: Confirmation = {
            id,
            taskId: task.id,
            owner: task.owner,
            surfaceId: `confirm:${id}`,
            title: input.title,
            components: input.components,
            state: "pending",
            action: "",
            values: null,
            requestId: input.requestId || null,
            createTime: w.now,
            expireTime: input.timeoutMs > 0 ? w.now + input.timeoutMs : null,
            resolveTime: null,
            answerers: [...(input.answerers ?? [])],
            timeoutAction: input.timeoutAction ?? "",
            answeredBy: "",
            answerTime: null,
            defaulted: false,
          };
          const next = changed(task, { status: "waiting_confirmation", pendingConfirmationId: id }, w.now);
          w.putConfirmation(confirmation);
          w.putTask(next);
          w.emit({ type: "confirmation_requested", confirmation });
          w.emit({ type: "status_changed", task: next, pending: confirmation });
          return confirmation;
        },
      });
      return value;
    },

    waitFor(confirmation: Confirmation, signal: AbortSignal): Promise<Confirmation | null> {
      return waits.waitFor(confirmation, signal);
    },

    heldConfirmations(): number {
      return waits.held();
    },

    async resolveConfirmation(input: ResolveConfirmationInput): Promise<Confirmation> {
      assertOpen();
      /** The same answer again (a retry after a lost response): nothing changes. */
      const isRetryOf = (c: Confirmation): boolean => {
        try {
          return isSameAnswer(c, input.answerer, input.action, validateAnswer(c, input.action, input.values));
        } catch {
          return false;
        }
      };
      const existing = await store.getConfirmation(input.confirmationId);
      if (!existing || (input.owner !== undefined && existing.owner !== input.owner)) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
      const { value } = await store.mutate({
        keys: { confirmations: [input.confirmationId], tasks: [existing.taskId] },
        apply(w): { confirmation: Confirmation; fresh: boolean } {
          const c = w.confirmation(input.confirmationId);
          if (!c) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
          assertMayAnswer(c, input.answerer);
          if (c.state !== "pending") {
            if (isRetryOf(c)) return { confirmation: c, fresh: false };
            throw new FailedPreconditionError(`confirmation ${c.id} is already ${c.state}`, "ALREADY_RESOLVED", {
              confirmation_state: `CONFIRMATION_STATE_${c.state.toUpperCase()}`,
            });
          }
          const values = validateAnswer(c, input.action, input.values);
          const answered = endConfirmation(w, c, {
            state: "answered",
            action: input.action,
            values,
            answeredBy: input.answerer.name,
            answerTime: w.now,
          });
          resumeAfter(w, c);
          return { confirmation: answered, fresh: true };
        },
      });
      if (value.fresh) onAnswer(value.confirmation);
      return value.confirmation;
    },

    listTaskEvents(query: TaskEventsQuery): Promise<SequencedEvent[]> {
      assertOpen();
      return store.readTaskEvents(query.taskId, query.afterSequence, query.limit);
    },

    completeTask(input: { taskId: string; result: JsonObject | null }): Promise<Task> {
      return finish(input.taskId, "complete it", () => ({ status: "succeeded", progress: 1, result: input.result }));
    },

    failTask(input: { taskId: string; errorMessage: string; details: JsonObject | null }): Promise<Task> {
      return finish(input.taskId, "fail it", () => ({
        status: "failed",
        errorMessage: input.errorMessage,
        errorDetails: input.details,
      }));
    },

    cancelTask(input: { taskId: string; reason: string }): Promise<Task> {
      return finish(input.taskId, "cancel it", () => ({
        status: "cancelled",
        cancelRequested: true,
        cancelReason: input.reason,
      }));
    },

    watch(request: WatchRequest, signal: AbortSignal, watchOptions: WatchOptions): AsyncIterable<WatchItem> {
      assertOpen();
      return watchSource(request, signal, watchOptions);
    },
  };
}

function notFound(): ProgressOutcome {
  return { found: false, applied: false, status: null, cancelRequested: false };
}

