import { NotFoundError } from "./errors.js";
import type { Confirmation, Task } from "./model.js";
import { isTerminal } from "./model.js";
import type { Working } from "./ports.js";

/** Loads a task for a mutation or throws NOT_FOUND. */
export function mustTask(w: Working, id: string): Task {
  const task = w.task(id);
  if (!task) throw new NotFoundError(`task ${id} not found`);
  return task;
}

/** The next revision of a task: the patch applied, update_time and revision moved on. */
export function changed(task: Task, patch: Partial<Task>, now: number): Task {
  return { ...task, ...patch, updateTime: now, revision: task.revision + 1 };
}

/**
 * The next revision of a task after a progress report (UpdateProgress, a StreamProgress
 * update): what changed() makes of the same patch, built without a patch object (and its
 * spreads) per report, the hot path of every persisted progress write.
 */
export function progressed(
  task: Task,
  report: { progress: number; label: string | undefined; checkpoint: Task["checkpoint"] | undefined },
  now: number,
): Task {
  const next: { -readonly [K in keyof Task]: Task[K] } = { ...task };
  next.progress = report.progress;
  if (report.checkpoint !== undefined) next.checkpoint = report.checkpoint;
  if (report.label !== undefined) next.label = report.label;
  // The row is written anyway: the persisted lease moves with it, for free.
  if (task.leaseDurationMs) next.leaseExpireTime = now + task.leaseDurationMs;
  next.updateTime = now;
  next.revision = task.revision + 1;
  return next;
}

/** Moves a pending confirmation to its final state and tells the watchers (and held calls). */
export function endConfirmation(w: Working, c: Confirmation, patch: Pick<Confirmation, "state"> & Partial<Confirmation>): Confirmation {
  const ended: Confirmation = { ...c, ...patch, resolveTime: w.now };
  w.putConfirmation(ended);
  w.emit({ type: "confirmation_resolved", confirmation: ended });
  return ended;
}

/**
 * Puts a task that was waiting on `c` back to running (unless it has ended meanwhile). A
 * stalled task (its worker's held call dropped) stays stalled: nobody is there to run it.
 */
export function resumeAfter(w: Working, c: Confirmation): void {
  const task = w.task(c.taskId);
  if (task && task.pendingConfirmationId === c.id && !isTerminal(task.status)) {
    const next = changed(task, { status: task.status === "stalled" ? "stalled" : "running", pendingConfirmationId: null }, w.now);
    w.putTask(next);
    w.emit({ type: "status_changed", task: next });
  }
}

/** Ends a pending confirmation of a task that is leaving waiting_confirmation for a terminal state. */
export function endPending(w: Working, task: Task): void {
  if (!task.pendingConfirmationId) return;
  const c = w.confirmation(task.pendingConfirmationId);
  if (c && c.state === "pending") endConfirmation(w, c, { state: "cancelled" });
}
