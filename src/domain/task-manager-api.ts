import type { Component, Confirmation, JsonObject, SequencedEvent, Task, TaskStatus } from "./model.js";
import type { Answerer } from "./rules.js";
import type { CallSignal, EventSink, TaskQuery, TaskStore, Timers, WatchItem, WatchOptions, WatchRequest, WatchSource } from "./ports.js";

// The task manager's contract: its inputs, its options and the interface the service calls.

/** The fields a worker gives CreateTask. */
export interface CreateTaskInput {
  owner: string;
  kind: string;
  label: string;
  checkpoint: JsonObject | null;
  requestId: string;
  /** The worker's lease in ms; 0 = no lease. */
  leaseDurationMs?: number | undefined;
}

/** UpdateProgress's input: checkpoint and label replace only when given. */
export interface UpdateProgressInput {
  taskId: string;
  progress: number;
  checkpoint?: JsonObject | undefined;
  label?: string | undefined;
  /** The caller's attempt; 0 or unset = not checked. */
  attempt?: number | undefined;
}

/** EmitProgress's input: omitted progress/label fall back to the stored ones. */
export interface EmitProgressInput {
  taskId: string;
  progress?: number | undefined;
  label?: string | undefined;
  checkpoint?: JsonObject | undefined;
  /** The caller's attempt; 0 or unset = not checked. */
  attempt?: number | undefined;
}

/** What Heartbeat tells the worker; leaseExpireTime is the expiry as this replica knows it. */
export interface HeartbeatOutcome {
  found: boolean;
  status: TaskStatus | null;
  cancelRequested: boolean;
  leaseExpireTime: number | null;
}

/** ClaimTask's input: leaseDurationMs 0 keeps the task's lease duration. */
export interface ClaimTaskInput {
  taskId: string;
  leaseDurationMs: number;
  requestId: string;
}

/** What the leases of this replica did (metrics). */
export interface LeaseCounts {
  expired: number;
  recovered: number;
  claims: number;
  stallsFailed: number;
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
  /** The caller's attempt; 0 or unset = not checked. */
  attempt?: number | undefined;
  /** Principal names or "role:<role>" who may answer; empty = the default rule. */
  answerers?: readonly string[] | undefined;
  /** A button's action taken when the timeout passes; "" = none (validated at the edge). */
  timeoutAction?: string | undefined;
}

/** ResolveConfirmation's input. */
export interface ResolveConfirmationInput {
  confirmationId: string;
  action: string;
  values: JsonObject;
  /**
   * The caller's owner scope: another owner's confirmation looks NOT_FOUND (its existence
   * does not leak). undefined: any owner's.
   */
  owner?: string | undefined;
  /** Who answers (recorded as answered_by, held to the confirmation's answerers). */
  answerer: Answerer;
}

/** One page of a task's persisted history. */
export interface TaskEventsQuery {
  taskId: string;
  /** Events with a sequence above this one. */
  afterSequence: number;
  limit: number;
}

/** The lifecycle of the manager: calls are refused as UNAVAILABLE outside "open". */
export type ManagerState = "opening" | "open" | "draining" | "closed";

/** Options of createTaskManager. */
export interface TaskManagerOptions {
  store: TaskStore;
  /** Receives live (never persisted) events; persisted ones reach it from the store's commits. */
  live: EventSink;
  /** Runs WatchTasks streams (events/watch.ts over the hub and the store); without it watch() throws. */
  watch?: WatchSource;
  /** @default Date.now */
  clock?: () => number;
  /** Expiry timers. @default node's setTimeout/clearTimeout, unref'd */
  timers?: Timers;
  /** New task and confirmation ids (a prefix is added). @default crypto.randomUUID */
  ids?: () => string;
  /**
   * Told when a confirmation's expiry fails (the store refused it: closing, a database
   * fault); the row stays PENDING and the next start expires it.
   * @default writes the error to console.error
   */
  onError?: (err: unknown, context: { confirmationId: string }) => void;
  /**
   * A stall older than this many ms fails the task (with details); 0 = never.
   * @default 0
   */
  stallFailAfterMs?: number;
  /**
   * Told when a lease check (lapse, renewal, stall failure) fails to commit; the next timer
   * or start-up tries again.
   * @default writes the error to console.error
   */
  onLeaseError?: (err: unknown, taskId: string) => void;
  /** Told once per answer recorded by ResolveConfirmation (not for a safe retry), after commit. */
  onAnswer?: (answered: Confirmation) => void;
}

/**
 * The task manager: every rule of the reference page, over a store and an event sink. The
 * service reaches tasks, confirmations and watches only through it.
 */
export interface TaskManager {
  /** Starts serving: schedules expiry of every pending confirmation (overdue ones at once). */
  open(): void;
  /** Refuses new calls (UNAVAILABLE); held waits keep their rows PENDING for the next start. */
  drain(): void;
  /** Stops the expiry timers; calls stay refused. */
  close(): void;
  /** Where the lifecycle is; calls are served only while "open". */
  state(): ManagerState;
  /**
   * The first stage of the commit pipeline: sees every committed event (from this process
   * or, with replication, another) before any watcher does; wakes held confirmation calls,
   * arms and clears expiries.
   */
  onEvents(events: readonly SequencedEvent[]): void;
  /** CreateTask: a running task at progress 0; the same request_id returns the first task. */
  createTask(input: CreateTaskInput): Promise<Task>;
  /** GetTask: the committed task or NOT_FOUND. */
  getTask(taskId: string): Promise<Task>;
  /**
   * The committed task (cache first) or null, with no lifecycle check: what a held call
   * reports when it ends (cancel_requested), even while the server drains.
   */
  currentTask(taskId: string): Promise<Task | null>;
  /** The pending confirmation of a task, if it has one. */
  pendingConfirmationOf(task: Task): Promise<Confirmation | null>;
  /** ListTasks: one page, newest first. */
  listTasks(query: TaskQuery): Promise<Task[]>;
  /**
   * UpdateProgress: clamp, replace checkpoint/label when given, commit, then push. Unknown
   * task → found=false; terminal task → applied=false; neither writes anything. Bad input
   * throws synchronously, so StreamProgress stops at the bad message.
   */
  updateProgress(input: UpdateProgressInput): Promise<ProgressOutcome>;
  /**
   * EmitProgress: a live line without touching the row or the cached task; only a task the
   * cache does not hold costs a read. Bad input throws synchronously.
   */
  emitProgress(input: EmitProgressInput): Promise<ProgressOutcome>;
  /**
   * RequestConfirmation, first half: validates, then stores the confirmation and moves the
   * task to waiting_confirmation in one commit; or re-attaches to the confirmation the same
   * request_id made before (whatever its state). The caller then waits with waitFor.
   */
  requestConfirmation(input: RequestConfirmationInput): Promise<Confirmation>;
  /**
   * RequestConfirmation, second half: the confirmation once it leaves PENDING (at once if
   * it already has), or null if the signal aborts first (the caller went away or the
   * server is draining: the row stays PENDING).
   */
  waitFor(confirmation: Confirmation, signal: CallSignal): Promise<Confirmation | null>;
  /** Number of held RequestConfirmation calls (for metrics and tests). */
  heldConfirmations(): number;
  /**
   * ResolveConfirmation: the confirmation read once, its owner checked against the
   * caller's scope, the caller against its answerers, the answer validated and the clicked
   * button's value merged in; the first answer wins (the same answer again by the same
   * principal is a safe retry: the confirmation as it is, no new event); the task resumes.
   */
  resolveConfirmation(input: ResolveConfirmationInput): Promise<Confirmation>;
  /** ListTaskEvents: the task's persisted events after a sequence, oldest first (the caller checked the task). */
  listTaskEvents(query: TaskEventsQuery): Promise<SequencedEvent[]>;
  /**
   * CompleteTask: SUCCEEDED, progress 1, result stored. On a SUCCEEDED task with the same
   * (or no) result: the task as it is, nothing written (a safe retry).
   */
  completeTask(input: { taskId: string; result: JsonObject | null; attempt?: number }): Promise<Task>;
  /** FailTask: FAILED with the message and details; on a FAILED task with the same message (and details, if given): a safe retry. */
  failTask(input: { taskId: string; errorMessage: string; details: JsonObject | null; attempt?: number }): Promise<Task>;
  /** CancelTask: CANCELLED with cancel_requested; a pending confirmation ends CANCELLED. On a CANCELLED task: a safe retry. */
  cancelTask(input: { taskId: string; reason: string }): Promise<Task>;
  /**
   * Heartbeat: renews the lease of the current attempt in memory (no row write); a stalled
   * task becomes running again (one commit). Unknown task → found=false.
   */
  heartbeat(input: { taskId: string; attempt: number }): Promise<HeartbeatOutcome>;
  /**
   * ClaimTask: attempt + 1, a fresh lease, stalled → running (waiting_confirmation stays with
   * its confirmation). The request_id of the claim that made the current attempt returns it again.
   */
  claimTask(input: ClaimTaskInput): Promise<Task>;
  /** What this replica's leases did (metrics). */
  leaseCounts(): LeaseCounts;
  /**
   * WatchTasks: snapshot or replay, then live events, with no gap and no duplicate (see
   * events/watch.ts). UNAVAILABLE unless open; throws at once, before the stream starts.
   */
  watch(request: WatchRequest, signal: CallSignal, options: WatchOptions): AsyncIterable<WatchItem>;
}
