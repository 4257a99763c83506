import type { TaskStatus } from "./model.js";
import type { ProgressOutcome } from "./task-manager-api.js";

// What UpdateProgress, EmitProgress and a StreamProgress update answer: frozen values, made
// once each and shared by every call.

const NOT_FOUND: ProgressOutcome = Object.freeze({ found: false, applied: false, status: null, cancelRequested: false });

/** The outcome of a report on a task that does not exist. */
export function notFound(): ProgressOutcome {
  return NOT_FOUND;
}

/**
 * The outcomes of progress reports on a found task, one frozen object per (applied, status,
 * cancelRequested): a StreamProgress window holds thousands of reports' outcomes until their
 * batch commits, and every call made one.
 */
const OUTCOMES = new Map<TaskStatus, ProgressOutcome[]>();

export function outcomeOf(applied: boolean, status: TaskStatus, cancelRequested: boolean): ProgressOutcome {
  let row = OUTCOMES.get(status);
  if (!row) OUTCOMES.set(status, (row = []));
  return (row[(applied ? 2 : 0) | (cancelRequested ? 1 : 0)] ??= Object.freeze({ found: true, applied, status, cancelRequested }));
}

