import { randomUUID } from "node:crypto";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "./errors.js";
import type { Component, Confirmation, JsonObject, SequencedEvent, Task, TaskEvent, TaskStatus } from "./model.js";
import { isTerminal } from "./model.js";
import type { EventSink, TaskQuery, TaskStore, Working } from "./ports.js";
import { assertNotTerminal, clampProgress, validateAnswer } from "./rules.js";

/** The fields a worker gives CreateTask. */
export interface CreateTaskInput {
  owner: string;
  kind: string;
  label: string;
  checkpoint: JsonObject | null;
  requestId: string;
}

/** UpdateProgress's input: checkpoint and label replace only when given. */
export interface UpdateProgressInput {
  taskId: string;
  progress: number;
  checkpoint?: JsonObject | undefined;
  label?: string | undefined;
}

/** EmitProgress's input: omitted progress/label fall back to the stored ones. */
export interface EmitProgressInput {
  taskId: string;
  progress?: number | undefined;
  label?: string | undefined;
  checkpoint?: JsonObject | undefined;
}

/** What UpdateProgress and EmitProgress tell the worker. */
export interface ProgressOutcome {
  found: boolean;
  applied: boolean;
  status: TaskStatus | null;
  cancelRequested: boolean;
}

/** RequestConfirmation's input. timeoutMs 0 waits forever. */
export interface RequestConfirmationInput {
  taskId: string;
  title: string;
  components: Component[];
  requestId: string;
  timeoutMs: number;
}

/** The lifecycle of the manager: calls are refused as UNAVAILABLE outside "open". */
export type ManagerState = "opening" | "open" | "draining" | "closed";

/** Options of createTaskManager. */
export interface TaskManagerOptions {
  store: TaskStore;
  /** Receives live (never persisted) events; persisted ones reach it from the store's commits. */
  live: EventSink;
  /** @default Date.now */
  clock?: () => number;
}

/** The task manager: every rule of the reference page, over a store and an event sink. */
export type TaskManager = ReturnType<typeof createTaskManager>;

const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * Builds the task manager. It owns the state machine, clamping, the checks that need state (input
 * shape is checked at the service edge: service/validation.ts), the waits of
 * held confirmations and their expiry timers; it never touches a transport or a driver.
 */
export function createTaskManager(options: TaskManagerOptions) {
  const { store, live } = options;
  const clock = options.clock ?? Date.now;
  let state: ManagerState = "opening";
  /** Held RequestConfirmation calls, by confirmation id. */
  const waiters = new Map<string, Set<(c: Confirmation) => void>>();
  const expiryTimers = new Map<string, NodeJS.Timeout>();

  function assertOpen(): void {
    if (state !== "open") throw new UnavailableError(`task manager is ${state}; retry later`, state === "opening" ? "NOT_READY" : "SHUTTING_DOWN");
  }

  /** Loads a task for a mutation or throws NOT_FOUND. */
  function mustTask(w: Working, id: string): Task {
    const task = w.task(id);
    if (!task) throw new NotFoundError(`task ${id} not found`);
    return task;
  }

  function changed(task: Task, patch: Partial<Task>, now: number): Task {
    return { ...task, ...patch, updateTime: now, revision: task.revision + 1 };
  }

  /** Moves a pending confirmation to its final state and tells the watchers (and held calls). */
  function endConfirmation(w: Working, c: Confirmation, patch: Pick<Confirmation, "state"> & Partial<Confirmation>): Confirmation {
    const ended: Confirmation = { ...c, ...patch, resolveTime: w.now };
    w.putConfirmation(ended);
    w.emit({ type: "confirmation_resolved", confirmation: ended });
    return ended;
  }

  /** Puts a task that was waiting on `c` back to running (unless it has ended meanwhile). */
  function resumeAfter(w: Working, c: Confirmation): void {
    const task = w.task(c.taskId);
    if (task && task.pendingConfirmationId === c.id && !isTerminal(task.status)) {
      const next = changed(task, { status: "running", pendingConfirmationId: null }, w.now);
      w.putTask(next);
      w.emit({ type: "status_changed", task: next });
    }
  }

  /** Ends a pending confirmation of a task that is leaving waiting_confirmation for a terminal state. */
  function endPending(w: Working, task: Task): void {
    if (!task.pendingConfirmationId) return;
    const c = w.confirmation(task.pendingConfirmationId);
    if (c && c.state === "pending") endConfirmation(w, c, { state: "cancelled" });
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

  function scheduleExpiry(c: Confirmation): void {
    if (c.state !== "pending" || c.expireTime === null || expiryTimers.has(c.id) || state === "closed") return;
    const delay = Math.max(0, c.expireTime - clock());
    const timer = setTimeout(() => {
      expiryTimers.delete(c.id);
      if (c.expireTime !== null && c.expireTime > clock()) return scheduleExpiry(c);
      expire(c.id).catch(() => {
        // The store refused (closing, or another replica expired it first): the row is the
        // truth, and start-up or the next replica's timer tries again.
      });
    }, Math.min(delay, TIMER_MAX_MS));
    timer.unref();
    expiryTimers.set(c.id, timer);
  }

  async function expire(confirmationId: string): Promise<void> {
    const current = await store.getConfirmation(confirmationId);
    if (!current || current.state !== "pending") return;
    await store.mutate({
      keys: { confirmations: [confirmationId], tasks: [current.taskId] },
      apply(w) {
        const c = w.confirmation(confirmationId);
        if (!c || c.state !== "pending" || c.expireTime === null || c.expireTime > w.now) return;
        endConfirmation(w, c, { state: "expired" });
        resumeAfter(w, c);
      },
    });
  }

  return {
    /** Starts serving: schedules expiry of every pending confirmation (overdue ones at once). */
    open(): void {
      state = "open";
      for (const c of store.pendingConfirmations()) scheduleExpiry(c);
    },

    /** Refuses new calls; held waits keep their rows PENDING for the next start. */
    drain(): void {
      if (state === "open" || state === "opening") state = "draining";
    },

    /** Stops timers. */
    close(): void {
      state = "closed";
      for (const t of expiryTimers.values()) clearTimeout(t);
      expiryTimers.clear();
    },

    get state(): ManagerState {
      return state;
    },

    /**
     * Sees every committed event (from this process or, with replication, another): wakes
     * held confirmation calls and schedules expiries.
     */
    onEvents(events: readonly SequencedEvent[]): void {
      for (const { event } of events) {
        if (event.type === "confirmation_requested") scheduleExpiry(event.confirmation);
        if (event.type === "confirmation_resolved") {
          const c = event.confirmation;
          const timer = expiryTimers.get(c.id);
          if (timer) {
            clearTimeout(timer);
            expiryTimers.delete(c.id);
          }
          const set = waiters.get(c.id);
          if (set) {
            waiters.delete(c.id);
            for (const wake of set) wake(c);
          }
        }
      }
    },

    /** CreateTask: a running task at progress 0; the same request_id returns the first task. */
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
            id: `t-${randomUUID()}`,
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

    /** GetTask: the committed task or NOT_FOUND. */
    async getTask(taskId: string): Promise<Task> {
      assertOpen();
      const task = await store.getTask(taskId);
      if (!task) throw new NotFoundError(`task ${taskId} not found`);
      return task;
    },

    /** The pending confirmation of a task, if it has one. */
    async pendingConfirmationOf(task: Task): Promise<Confirmation | null> {
      if (!task.pendingConfirmationId) return null;
      return store.getConfirmation(task.pendingConfirmationId);
    },

    /** ListTasks: one page, newest first. */
    async listTasks(query: TaskQuery): Promise<Task[]> {
      assertOpen();
      return store.listTasks(query);
    },

    /**
     * UpdateProgress: clamp, replace checkpoint/label when given, commit, then push. Unknown
     * task → found=false; terminal task → applied=false; neither writes anything.
     */
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

    /**
     * EmitProgress: push a live line without touching the row or the cached task. Reads the
     * task from the store's cache; only a task the cache does not hold costs a read.
     */
    emitProgress(input: EmitProgressInput): Promise<ProgressOutcome> {
      assertOpen();
      const progress = input.progress === undefined ? undefined : clampProgress(input.progress);
      const cached = store.peekTask(input.taskId);
      if (cached) return Promise.resolve(emitFor(cached, input, progress));
      return store.getTask(input.taskId).then((task) => (task ? emitFor(task, input, progress) : notFound()));
    },

    /**
     * RequestConfirmation, first half: validates, then stores the confirmation and moves the
     * task to waiting_confirmation in one commit; or re-attaches to the confirmation the same
     * request_id made before (whatever its state). The caller then waits with waitFor.
     */
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
          const id = `c-${randomUUID()}`;
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

    /**
     * RequestConfirmation, second half: resolves with the confirmation once it leaves
     * PENDING (at once if it already has), or with null if the signal aborts first (the
     * caller went away or the server is draining: the row stays PENDING).
     */
    waitFor(confirmation: Confirmation, signal: AbortSignal): Promise<Confirmation | null> {
      if (confirmation.state !== "pending") return Promise.resolve(confirmation);
      return new Promise((resolve) => {
        if (signal.aborted) return resolve(null);
        let set = waiters.get(confirmation.id);
        if (!set) waiters.set(confirmation.id, (set = new Set()));
        const wake = (c: Confirmation): void => {
          signal.removeEventListener("abort", onAbort);
          resolve(c);
        };
        const onAbort = (): void => {
          set.delete(wake);
          if (set.size === 0 && waiters.get(confirmation.id) === set) waiters.delete(confirmation.id);
          resolve(null);
        };
        set.add(wake);
        signal.addEventListener("abort", onAbort, { once: true });
        // The answer may have committed between the caller's read and this registration.
        store.getConfirmation(confirmation.id).then(
          (c) => {
            if (c && c.state !== "pending" && set.has(wake)) {
              set.delete(wake);
              wake(c);
            }
          },
          () => undefined,
        );
      });
    },

    /** Number of held RequestConfirmation calls (for metrics and tests). */
    heldConfirmations(): number {
      let n = 0;
      for (const set of waiters.values()) n += set.size;
      return n;
    },

    /** ResolveConfirmation: validates the answer; the first answer wins; the task resumes. */
    async resolveConfirmation(input: { confirmationId: string; action: string; values: JsonObject }): Promise<Confirmation> {
      assertOpen();
      const existing = await store.getConfirmation(input.confirmationId);
      if (!existing) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
      const { value } = await store.mutate({
        keys: { confirmations: [input.confirmationId], tasks: [existing.taskId] },
        apply(w): Confirmation {
          const c = w.confirmation(input.confirmationId);
          if (!c) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
          if (c.state !== "pending") {
            throw new FailedPreconditionError(`confirmation ${c.id} is already ${c.state}`, "ALREADY_RESOLVED", {
              confirmation_state: `CONFIRMATION_STATE_${c.state.toUpperCase()}`,
            });
          }
          validateAnswer(c, input.action, input.values);
          const answered = endConfirmation(w, c, { state: "answered", action: input.action, values: input.values });
          resumeAfter(w, c);
          return answered;
        },
      });
      return value;
    },

    /** The confirmation as stored (for scoping checks before an answer). */
    async getConfirmation(confirmationId: string): Promise<Confirmation> {
      assertOpen();
      const c = await store.getConfirmation(confirmationId);
      if (!c) throw new NotFoundError(`confirmation ${confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
      return c;
    },

    /** CompleteTask: SUCCEEDED, progress 1, result stored. */
    completeTask(input: { taskId: string; result: JsonObject | null }): Promise<Task> {
      return finish(input.taskId, "complete it", () => ({ status: "succeeded", progress: 1, result: input.result }));
    },

    /** FailTask: FAILED with the message and details. */
    failTask(input: { taskId: string; errorMessage: string; details: JsonObject | null }): Promise<Task> {
      return finish(input.taskId, "fail it", () => ({
        status: "failed",
        errorMessage: input.errorMessage,
        errorDetails: input.details,
      }));
    },

    /** CancelTask: CANCELLED with cancel_requested; a pending confirmation ends CANCELLED. */
    cancelTask(input: { taskId: string; reason: string }): Promise<Task> {
      return finish(input.taskId, "cancel it", () => ({
        status: "cancelled",
        cancelRequested: true,
        cancelReason: input.reason,
      }));
    },
  };
}

function notFound(): ProgressOutcome {
  return { found: false, applied: false, status: null, cancelRequested: false };
}
