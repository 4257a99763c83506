// The worker API, as the reference page's `module_sdk.tasks`: create, updateProgress,
// emitProgress, requestConfirmation, complete, fail, view, and runBackground.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import type { Task } from "../../../gen/taskcontrol/v1/task_pb.js";
import { TaskStatus } from "../../../gen/taskcontrol/v1/task_pb.js";
import { runBackground, type BackgroundFn, type BackgroundOptions, type BackgroundTask } from "./background.js";
import type { Caller } from "./client.js";
import { toSdkError, Unavailable, type TaskControlError } from "./errors.js";
import { Builder } from "./ui.js";
import { decisionOf, statusName, taskView, type Decision, type StatusName, type TaskView } from "./view.js";

/** Options of tasks.create(). */
export interface CreateOptions {
  /** The user the task belongs to (who watches it and answers its confirmations). */
  readonly owner: string;
  /** The live stage description. @default "" */
  readonly label?: string;
  /** Free-form kind of job, e.g. "model.install". @default "" */
  readonly kind?: string;
  /** Idempotency key: the same one again returns the same task. @default a fresh one per call, so retries never create two */
  readonly requestId?: string;
  /** The lease in seconds (1 to 86,400): without a call within it the task goes STALLED. @default no lease */
  readonly lease?: number;
  /** The initial checkpoint. */
  readonly checkpoint?: JsonObject;
}

/** Options of updateProgress() and emitProgress(): each replaces the stored one only when given. */
export interface ProgressOptions {
  readonly label?: string;
  readonly checkpoint?: JsonObject;
}

/** What updateProgress() and emitProgress() learned. */
export interface ProgressResult {
  /** False for an unknown task id (ignored: nothing was written or pushed). */
  readonly found: boolean;
  /** updateProgress only: false when the task had already ended (nothing written). */
  readonly applied: boolean;
  readonly status: StatusName;
  /** The user cancelled the task: stop cooperatively. */
  readonly cancelRequested: boolean;
}

/** Options of requestConfirmation(). */
export interface ConfirmationOptions {
  /** How long to wait for an answer, in ms. @default forever */
  readonly timeoutMs?: number;
  /** The action (one of the buttons') taken when the timeout passes: the decision is then `defaulted`. */
  readonly timeoutAction?: string;
  /** Who may answer: principal names or "role:<role>". @default the owner's users, gateways, admins */
  readonly answerers?: readonly string[];
  /** Re-attach key. @default a fresh one per call (the SDK re-attaches with it after a drop) */
  readonly requestId?: string;
  /** Stops waiting (the confirmation stays pending; call again with the same requestId to re-attach). */
  readonly signal?: AbortSignal;
}

/** What heartbeat() learned. */
export interface HeartbeatResult {
  readonly found: boolean;
  readonly status: StatusName;
  readonly cancelRequested: boolean;
  /** When the lease lapses now; undefined without a lease. */
  readonly leaseExpireTime: Date | undefined;
}

/** The worker API of a Client. */
export class Tasks {
  /** The attempt this client holds of each task it created or claimed (sent to fence stale workers). */
  private readonly attempts = new Map<string, bigint>();
  /** Listeners told when a response says the user cancelled a task (runBackground's abort). */
  private readonly cancelListeners = new Map<string, (reason: string) => void>();

  /** @internal */
  constructor(private readonly caller: Caller) {}

  private attemptOf(taskId: string): bigint {
    return this.attempts.get(taskId) ?? 0n;
  }

  private sawTask(task: Task | undefined): TaskView {
    if (!task) throw new TypeError("the server answered without the task");
    if (task.cancelRequested) this.sawCancel(task.id, task.cancelReason);
    return taskView(task);
  }

  private sawCancel(taskId: string, reason = ""): void {
    this.cancelListeners.get(taskId)?.(reason);
  }

  /** @internal runBackground's hook: `listener` is told once a response says the task was cancelled. */
  onCancel(taskId: string, listener: (reason: string) => void): () => void {
    this.cancelListeners.set(taskId, listener);
    return () => this.cancelListeners.delete(taskId);
  }

  /** Creates a running task (progress 0) and returns its id: the reference's run_background. */
  async create(options: CreateOptions): Promise<string> {
    const res = await this.caller.unary((o) =>
      this.caller.rpc.createTask(
        {
          owner: options.owner,
          label: options.label ?? "",
          kind: options.kind ?? "",
          checkpoint: options.checkpoint,
          requestId: options.requestId ?? `node-${randomUUID()}`,
          leaseDuration: options.lease ? durationFromMs(options.lease * 1000) : undefined,
        },
        o,
      ),
    );
    const task = res.task;
    if (!task) throw new TypeError("the server answered without the task");
    this.attempts.set(task.id, task.attempt);
    return task.id;
  }

  /**
   * Persists a progress milestone and pushes it to the owner's watchers. `progress` is
   * clamped into [0, 1] (NaN throws InvalidArgument); label and checkpoint replace the stored
   * ones when given. An unknown task id is ignored (found: false), as is an ended task.
   */
  async updateProgress(taskId: string, progress: number, options: ProgressOptions = {}): Promise<ProgressResult> {
    const res = await this.caller.unary((o) =>
      this.caller.rpc.updateProgress(
        { taskId, progress, label: options.label, checkpoint: options.checkpoint, attempt: this.attemptOf(taskId) },
        o,
      ),
    );
    if (res.cancelRequested) this.sawCancel(taskId);
    return { found: res.found, applied: res.applied, status: statusName(res.status), cancelRequested: res.cancelRequested };
  }

  /**
   * Pushes a live progress line to the owner's watchers without storing anything. Omitted
   * progress or label send the stored ones. An unknown task id is ignored (found: false).
   */
  async emitProgress(taskId: string, progress?: number, options: ProgressOptions = {}): Promise<ProgressResult> {
    const res = await this.caller.unary((o) =>
      this.caller.rpc.emitProgress(
        { taskId, progress, label: options.label, checkpoint: options.checkpoint, attempt: this.attemptOf(taskId) },
        o,
      ),
    );
    if (res.cancelRequested) this.sawCancel(taskId);
    return { found: res.found, applied: res.found, status: statusName(res.status), cancelRequested: res.cancelRequested };
  }

  /**
   * Pauses the task at a decision point until its user answers the surface of `builder`, and
   * returns the decision. The wait survives dropped connections and restarts: the SDK calls
   * again with the same requestId and re-attaches. Throws TaskNotFound for a missing task,
   * FailedPrecondition for an ended task (or one waiting on another confirmation),
   * InvalidArgument for a bad surface, and `signal`'s reason when aborted.
   */
  async requestConfirmation(taskId: string, builder: Builder, options: ConfirmationOptions = {}): Promise<Decision> {
    if (!(builder instanceof Builder)) throw new TypeError("requestConfirmation takes a client.ui.Builder");
    const request = {
      taskId,
      title: builder.title,
      components: builder.components,
      requestId: options.requestId ?? `node-${randomUUID()}`,
      timeout: options.timeoutMs ? durationFromMs(options.timeoutMs) : undefined,
      timeoutAction: options.timeoutAction ?? "",
      answerers: [...(options.answerers ?? [])],
      attempt: this.attemptOf(taskId),
    };
    const retry = this.caller.retry();
    const outer = options.signal ?? new AbortController().signal;
    for (;;) {
      const call = new AbortController();
      let error: TaskControlError;
      try {
        const stream = this.caller.rpc.requestConfirmation(request, this.caller.streamOptions(AbortSignal.any([call.signal, outer])));
        for await (const message of stream) {
          retry.reset();
          if (message.event.case === "resolved") {
            const decision = decisionOf(message.event.value);
            if (decision.cancelRequested) this.sawCancel(taskId);
            return decision;
          }
        }
        error = new Unavailable(new ConnectError("the service ended the call before resolving it", Code.Unavailable));
      } catch (err) {
        if (outer.aborted) throw outer.reason;
        if (this.caller.closed.aborted) throw this.caller.closed.reason;
        error = toSdkError(err);
        if (error.grpcCode !== Code.Unavailable) throw error;
      } finally {
        call.abort();
      }
      await retry.wait(error, AbortSignal.any([outer, this.caller.closed]));
    }
  }

  /** Ends the task SUCCEEDED with progress 1 (and `result`); returns it. Retrying is safe. */
  async complete(taskId: string, result?: JsonObject): Promise<TaskView> {
    const res = await this.caller.unary((o) => this.caller.rpc.completeTask({ taskId, result, attempt: this.attemptOf(taskId) }, o));
    return this.sawTask(res.task);
  }

  /** Ends the task FAILED with `message` (and structured `details`); returns it. */
  async fail(taskId: string, message: string, details?: JsonObject): Promise<TaskView> {
    const res = await this.caller.unary((o) =>
      this.caller.rpc.failTask({ taskId, errorMessage: message, details, attempt: this.attemptOf(taskId) }, o),
    );
    return this.sawTask(res.task);
  }

  /** The task as a plain object (status "running", checkpoint an object, times as Dates); TaskNotFound if unknown. */
  async view(taskId: string): Promise<TaskView> {
    const res = await this.caller.unary((o) => this.caller.rpc.getTask({ taskId }, o));
    return this.sawTask(res.task);
  }

  /** The tasks of `owner` (the caller's own if ""), newest first, every page; `statuses` like ["running"]. */
  async list(options: { owner?: string; statuses?: readonly StatusName[] } = {}): Promise<TaskView[]> {
    const statuses = (options.statuses ?? []).map((s) => {
      const status = TaskStatus[s.toUpperCase() as keyof typeof TaskStatus];
      if (status === undefined || status === TaskStatus.UNSPECIFIED) throw new RangeError(`unknown task status "${s}"`);
      return status;
    });
    const tasks: TaskView[] = [];
    let pageToken = "";
    do {
      const res = await this.caller.unary((o) => this.caller.rpc.listTasks({ owner: options.owner ?? "", statuses, pageToken }, o));
      tasks.push(...res.tasks.map(taskView));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    return tasks;
  }

  /** Renews the lease of this client's attempt without writing anything; tells whether to stop. */
  async heartbeat(taskId: string): Promise<HeartbeatResult> {
    const res = await this.caller.unary((o) => this.caller.rpc.heartbeat({ taskId, attempt: this.attemptOf(taskId) }, o));
    if (res.cancelRequested) this.sawCancel(taskId);
    return {
      found: res.found,
      status: statusName(res.status),
      cancelRequested: res.cancelRequested,
      leaseExpireTime: res.leaseExpireTime && timestampDate(res.leaseExpireTime),
    };
  }

  /**
   * Takes over a task as a new attempt (a supervisor resuming a stalled job): progress, label,
   * checkpoint and a pending confirmation are kept; the older attempt's calls are refused
   * (AttemptSuperseded) from then on. `lease` in seconds.
   */
  async claim(taskId: string, options: { lease?: number; requestId?: string } = {}): Promise<TaskView> {
    const res = await this.caller.unary((o) =>
      this.caller.rpc.claimTask(
        {
          taskId,
          leaseDuration: options.lease ? durationFromMs(options.lease * 1000) : undefined,
          requestId: options.requestId ?? `node-${randomUUID()}`,
        },
        o,
      ),
    );
    if (res.task) this.attempts.set(res.task.id, res.task.attempt);
    return this.sawTask(res.task);
  }

  /**
   * Runs `fn` as a background task, like the reference page's run_background: creates the
   * task, calls `fn` with its handle, heartbeats every lease/3 while it runs, completes the
   * task with what `fn` returns, fails it with the error `fn` throws (message, name and stack
   * in details), and aborts `fn`'s signal when the task is cancelled.
   */
  async runBackground<T>(fn: BackgroundFn<T>, options: BackgroundOptions): Promise<BackgroundTask> {
    return runBackground(this, this.caller, fn, options);
  }

  /** @internal the attempt this client holds (0 = none known). */
  attempt(taskId: string): number {
    return Number(this.attemptOf(taskId));
  }
}
