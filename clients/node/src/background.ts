// runBackground: a job function run as a task, with its heartbeats, its end (complete or
// fail) and its cancellation (an AbortSignal aborted when the user cancels).
import { Code } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { Caller } from "./client.js";
import { AttemptSuperseded, superseded, TaskControlError } from "./errors.js";
import type { CreateOptions, Tasks } from "./tasks.js";
import type { TaskView } from "./view.js";

/** The lease of a background task when none is given, in seconds (the Python SDK's too). */
export const DEFAULT_LEASE_S = 60;

/** Options of runBackground: those of tasks.create(), and `resume`. */
export interface BackgroundOptions extends CreateOptions {
  /**
   * The lease in seconds; the SDK heartbeats every lease/3 while the job runs, so a worker
   * that dies goes STALLED within it. @default 60
   */
  readonly lease?: number;
  /** Claims this (stalled) task as a new attempt instead of creating one; the job starts from its checkpoint. */
  readonly resume?: string;
}

/** What the job function receives. */
export interface BackgroundContext {
  /** The task's id: pass it to updateProgress, emitProgress, requestConfirmation. */
  readonly id: string;
  /** This run's attempt (1 for a new task; 0 from a server without leases). */
  readonly attempt: number;
  /** The task's checkpoint when the run started: the one given, or a resumed task's last. */
  readonly checkpoint: JsonObject | undefined;
  /**
   * Aborted when the job must stop: the task was cancelled (the reason is a TaskCancelled),
   * another attempt claimed it (an AttemptSuperseded), or the client closed.
   */
  readonly signal: AbortSignal;
}

/** The job: its resolved value becomes the task's result (an object as is, anything else as {value}). */
export type BackgroundFn<T> = (task: BackgroundContext) => Promise<T> | T;

/** A running background task. */
export interface BackgroundTask {
  readonly id: string;
  readonly attempt: number;
  /** The job's signal (see BackgroundContext.signal). */
  readonly signal: AbortSignal;
  /**
   * Settles with the task once it ended: succeeded, failed or cancelled. Rejects when the end
   * could not be recorded: the client closed first, or a newer attempt holds the task.
   */
  readonly done: Promise<TaskView>;
}

/** The reason of a background task's signal: the user cancelled the task. */
export class TaskCancelled extends Error {
  override readonly name = "TaskCancelled";
  constructor(
    readonly taskId: string,
    /** CancelTask's reason ("" if none was given). */
    readonly reason: string,
  ) {
    super(reason ? `task ${taskId} was cancelled: ${reason}` : `task ${taskId} was cancelled`);
  }
}

function resultOf(value: unknown): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "object" && !Array.isArray(value)) return value as JsonObject;
  return { value: value as JsonValue };
}

/** How a failed job is described in the task's error details (the keys the Python SDK uses). */
function detailsOf(err: unknown): JsonObject {
  if (err instanceof Error) return { type: err.name, traceback: err.stack ?? "" };
  return { type: typeof err, traceback: String(err) };
}

/** Implements Tasks.runBackground. */
export async function runBackground<T>(tasks: Tasks, caller: Caller, fn: BackgroundFn<T>, options: BackgroundOptions): Promise<BackgroundTask> {
  let lease = options.lease ?? DEFAULT_LEASE_S;
  let id: string;
  let checkpoint: JsonObject | undefined;
  if (options.resume !== undefined) {
    // Without a lease of ours the claim keeps the task's: heartbeat on that one.
    const claimed = await tasks.claim(options.resume, { lease: options.lease, requestId: options.requestId });
    id = claimed.id;
    checkpoint = claimed.checkpoint;
    if (options.lease === undefined && claimed.leaseDurationMs) lease = claimed.leaseDurationMs / 1000;
  } else {
    id = await tasks.create({ ...options, lease });
    checkpoint = options.checkpoint;
  }
  const attempt = tasks.attempt(id);
  const stopped = new AbortController();
  const stopJob = (reason: Error): void => {
    if (!stopped.signal.aborted) stopped.abort(reason);
  };
  const cancel = (reason: string): void => stopJob(new TaskCancelled(id, reason));
  const stopHooks = tasks.onCancel(id, cancel);
  // client.close() stops the job too: its calls could not reach the server any more.
  const closing = (): void => stopJob(caller.closed.reason as Error);
  caller.closed.addEventListener("abort", closing, { once: true });
  const wasCancelled = () => stopped.signal.reason instanceof TaskCancelled;
  const finished = new AbortController();
  const helpers = AbortSignal.any([finished.signal, caller.closed]);
  void watchTask(tasks, caller, { id, attempt }, cancel, stopJob, helpers);
  const heartbeats = startHeartbeats(tasks, id, (lease * 1000) / 3, stopJob);

  const end = async (): Promise<TaskView> => {
    try {
      const value = await fn({ id, attempt, checkpoint, signal: stopped.signal });
      if (stopped.signal.reason instanceof AttemptSuperseded) throw stopped.signal.reason;
      if (wasCancelled()) return await tasks.view(id);
      return await tasks.complete(id, resultOf(value));
    } catch (err) {
      if (err instanceof AttemptSuperseded) throw err;
      // Another attempt owns the task now: it is not ours to end.
      if (stopped.signal.reason instanceof AttemptSuperseded) throw stopped.signal.reason;
      if (caller.closed.aborted) throw caller.closed.reason;
      if (wasCancelled()) return await tasks.view(id);
      const message = err instanceof Error ? err.message || err.name : String(err);
      return await tasks.fail(id, message, detailsOf(err));
    }
  };
  const done = end()
    .catch(async (err: unknown) => {
      // The task ended meanwhile (cancelled between fn's end and our call): report it as it is.
      if (err instanceof TaskControlError && err.grpcCode === Code.FailedPrecondition && !(err instanceof AttemptSuperseded)) {
        return tasks.view(id);
      }
      throw err;
    })
    .finally(() => {
      heartbeats.stop();
      stopHooks();
      caller.closed.removeEventListener("abort", closing);
      finished.abort();
    });
  // A run nobody awaits must not crash the process when its end cannot be recorded (the
  // client closed, a newer attempt took over); whoever awaits `done` still gets the error.
  done.catch(() => undefined);
  return { id, attempt, signal: stopped.signal, done };
}

/**
 * Heartbeats every `everyMs` until stopped. A refusal as superseded stops the job; a server
 * without Heartbeat (UNIMPLEMENTED) ends the heartbeats; other failures wait for the next beat.
 */
function startHeartbeats(tasks: Tasks, id: string, everyMs: number, stopJob: (reason: Error) => void): { stop(): void } {
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight) return;
    inFlight = true;
    tasks
      .heartbeat(id)
      .catch((err: unknown) => {
        if (err instanceof AttemptSuperseded) stopJob(err);
        if (err instanceof AttemptSuperseded || (err instanceof TaskControlError && err.grpcCode === Code.Unimplemented)) clearInterval(timer);
      })
      .finally(() => {
        inFlight = false;
      });
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

/**
 * Watches the one task so a cancel (or a claim by another attempt) reaches the job at once,
 * not only with its next call or heartbeat. The snapshot closes the race with a cancel
 * before the watch started: a task missing from it has ended, so it is read once. Errors (a
 * role that may not watch, an old server) leave the job to learn it from its calls.
 */
async function watchTask(
  tasks: Tasks,
  caller: Caller,
  run: { id: string; attempt: number },
  cancel: (reason: string) => void,
  stopJob: (reason: Error) => void,
  signal: AbortSignal,
): Promise<void> {
  let seen = false;
  try {
    for await (const event of caller.watch({ taskIds: [run.id], includeSnapshot: true, signal })) {
      const e = event.event;
      if (e.case === "snapshot" || e.case === "statusChanged") {
        seen = true;
        const task = e.value.task;
        if (task?.cancelRequested) cancel(task.cancelReason);
        else if (task && run.attempt > 0 && task.attempt > BigInt(run.attempt)) stopJob(superseded(run.id, task.attempt, run.attempt));
      } else if (e.case === "snapshotEnd" && !seen) {
        const now = await tasks.view(run.id);
        if (now.cancelRequested) cancel(now.cancelReason);
      }
    }
  } catch {
    // See above: the job's own calls and heartbeats still carry both.
  }
}
