// runBackground: a job function run as a task, with its heartbeats, its end (complete or
// fail) and its cancellation (an AbortSignal aborted when the user cancels).
import { Code } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { Caller } from "./client.js";
import { AttemptSuperseded, TaskControlError } from "./errors.js";
import type { CreateOptions, Tasks } from "./tasks.js";
import type { TaskView } from "./view.js";

/** Options of runBackground: those of tasks.create(). `lease` (seconds) turns heartbeats on. */
export type BackgroundOptions = CreateOptions;

/** What the job function receives. */
export interface BackgroundContext {
  /** The task's id: pass it to updateProgress, emitProgress, requestConfirmation. */
  readonly id: string;
  /** This run's attempt (1 for a new task; 0 from a server without leases). */
  readonly attempt: number;
  /** The task's checkpoint when the run started (undefined for a new task). */
  readonly checkpoint: JsonObject | undefined;
  /** Aborted when the task is cancelled (its reason a TaskCancelled) or the client closed. */
  readonly signal: AbortSignal;
}

/** The job: its resolved value becomes the task's result (an object as is, anything else as {value}). */
export type BackgroundFn<T> = (task: BackgroundContext) => Promise<T> | T;

/** A running background task. */
export interface BackgroundTask {
  readonly id: string;
  readonly attempt: number;
  /** Aborted when the task is cancelled (its reason a TaskCancelled) or the client closed. */
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

function detailsOf(err: unknown): JsonObject {
  if (err instanceof Error) return { name: err.name, stack: err.stack ?? "" };
  return { thrown: String(err) };
}

/** Implements Tasks.runBackground. */
export async function runBackground<T>(tasks: Tasks, caller: Caller, fn: BackgroundFn<T>, options: BackgroundOptions): Promise<BackgroundTask> {
  const id = await tasks.create(options);
  const attempt = tasks.attempt(id);
  const cancelled = new AbortController();
  const cancel = (reason: string): void => {
    if (!cancelled.signal.aborted) cancelled.abort(new TaskCancelled(id, reason));
  };
  const stopHooks = tasks.onCancel(id, cancel);
  // client.close() stops the job too: its calls could not reach the server any more.
  const closing = (): void => {
    if (!cancelled.signal.aborted) cancelled.abort(caller.closed.reason);
  };
  caller.closed.addEventListener("abort", closing, { once: true });
  const wasCancelled = () => cancelled.signal.reason instanceof TaskCancelled;
  const finished = new AbortController();
  const stop = AbortSignal.any([finished.signal, caller.closed]);
  void watchForCancel(tasks, caller, id, cancel, stop);
  const heartbeats = options.lease ? startHeartbeats(tasks, id, (options.lease * 1000) / 3) : undefined;

  const end = async (): Promise<TaskView> => {
    try {
      const value = await fn({ id, attempt, checkpoint: options.checkpoint, signal: cancelled.signal });
      if (wasCancelled()) return await tasks.view(id);
      return await tasks.complete(id, resultOf(value));
    } catch (err) {
      if (err instanceof AttemptSuperseded) throw err;
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
      heartbeats?.stop();
      stopHooks();
      caller.closed.removeEventListener("abort", closing);
      finished.abort();
    });
  // A run nobody awaits must not crash the process when its end cannot be recorded (the
  // client closed, a newer attempt took over); whoever awaits `done` still gets the error.
  done.catch(() => undefined);
  return { id, attempt, signal: cancelled.signal, done };
}

/** Heartbeats every `everyMs` until stopped; a server without Heartbeat (UNIMPLEMENTED) ends them. */
function startHeartbeats(tasks: Tasks, id: string, everyMs: number): { stop(): void } {
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight) return;
    inFlight = true;
    tasks
      .heartbeat(id)
      .catch((err: unknown) => {
        if (err instanceof TaskControlError && err.grpcCode === Code.Unimplemented) clearInterval(timer);
      })
      .finally(() => {
        inFlight = false;
      });
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

/**
 * Watches the one task so a cancel reaches the job at once, not only with its next call or
 * heartbeat. The snapshot closes the race with a cancel before the watch started: a task
 * missing from it has ended, so it is read once. Errors (a role that may not watch, an old
 * server) leave the job to learn it from its calls' responses.
 */
async function watchForCancel(tasks: Tasks, caller: Caller, id: string, cancel: (reason: string) => void, signal: AbortSignal): Promise<void> {
  let seen = false;
  try {
    for await (const event of caller.watch({ taskIds: [id], includeSnapshot: true, signal })) {
      const e = event.event;
      if (e.case === "snapshot" || e.case === "statusChanged") {
        seen = true;
        if (e.value.task?.cancelRequested) cancel(e.value.task.cancelReason);
      } else if (e.case === "snapshotEnd" && !seen) {
        const now = await tasks.view(id);
        if (now.cancelRequested) cancel(now.cancelReason);
      }
    }
  } catch {
    // See above: the job's own calls still carry cancel_requested.
  }
}
