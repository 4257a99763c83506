import type { Component, Confirmation, JsonObject, SequencedEvent, Task, TaskEvent, TaskStatus } from "../domain/model.js";
import type { ConfirmationRow, EventRow, TaskRow } from "./schema.js";

// Domain values ⇄ table rows. JSON payloads are text on both dialects; numbers that a driver
// may hand back as strings (bigint columns on PostgreSQL) are converted here, once.

/** Every column of `tasks`, in schema order. */
export const TASK_COLUMNS = [
  "id",
  "owner",
  "kind",
  "label",
  "status",
  "progress",
  "checkpoint",
  "result",
  "error_message",
  "error_details",
  "cancel_requested",
  "cancel_reason",
  "request_id",
  "pending_confirmation_id",
  "create_time",
  "update_time",
  "end_time",
  "revision",
  "attempt",
  "lease_duration",
  "lease_expire_time",
  "stall_time",
  "claim_request_id",
] as const;

/** A column of `tasks`. */
export type TaskColumn = (typeof TASK_COLUMNS)[number];

/** Columns an UPDATE may change (never the key, the owner, the creation time or the request id). */
export const UPDATABLE_COLUMNS: readonly TaskColumn[] = TASK_COLUMNS.filter(
  (c) => c !== "id" && c !== "owner" && c !== "create_time" && c !== "request_id",
);

/** A JSON object as stored (text), or null. */
export function json(value: JsonObject | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

function parse(value: string | null): JsonObject | null {
  return value === null ? null : (JSON.parse(value) as JsonObject);
}

/** Each column's domain value: the JSON columns hold an object here, text in the row. */
const TASK_FIELDS: { readonly [C in TaskColumn]: (t: Task) => unknown } = {
  id: (t) => t.id,
  owner: (t) => t.owner,
  kind: (t) => t.kind,
  label: (t) => t.label,
  status: (t) => t.status,
  progress: (t) => t.progress,
  checkpoint: (t) => t.checkpoint,
  result: (t) => t.result,
  error_message: (t) => t.errorMessage,
  error_details: (t) => t.errorDetails,
  cancel_requested: (t) => t.cancelRequested,
  cancel_reason: (t) => t.cancelReason,
  request_id: (t) => t.requestId,
  pending_confirmation_id: (t) => t.pendingConfirmationId,
  create_time: (t) => t.createTime,
  update_time: (t) => t.updateTime,
  end_time: (t) => t.endTime,
  revision: (t) => t.revision,
  attempt: (t) => t.attempt,
  lease_duration: (t) => t.leaseDurationMs,
  lease_expire_time: (t) => t.leaseExpireTime,
  stall_time: (t) => t.stallTime,
  claim_request_id: (t) => t.claimRequestId,
};

const JSON_COLUMNS: ReadonlySet<TaskColumn> = new Set<TaskColumn>(["checkpoint", "result", "error_details"]);

/** One column of taskToRow(t), without building the whole row. */
export function taskColumn(t: Task, c: TaskColumn): unknown {
  const v = TASK_FIELDS[c](t);
  return JSON_COLUMNS.has(c) ? json(v as JsonObject | null) : v;
}

/** The `tasks` row of a task. */
export function taskToRow(t: Task): TaskRow {
  const row: Record<string, unknown> = {};
  for (const c of TASK_COLUMNS) row[c] = taskColumn(t, c);
  return row as unknown as TaskRow;
}

/**
 * Whether `a` and `b` store different values in column `c` (as comparing taskToRow(a)[c]
 * with taskToRow(b)[c] says, but JSON is serialised only when the two objects differ).
 */
export function taskColumnDiffers(a: Task, b: Task, c: TaskColumn): boolean {
  const get = TASK_FIELDS[c];
  const va = get(a);
  const vb = get(b);
  if (va === vb) return false;
  return !JSON_COLUMNS.has(c) || json(va as JsonObject | null) !== json(vb as JsonObject | null);
}

/** The task a `tasks` row holds (SQLite answers 0/1 for booleans, pg strings for bigints). */
export function rowToTask(r: TaskRow): Task {
  return {
    id: r.id,
    owner: r.owner,
    kind: r.kind,
    label: r.label,
    status: r.status as TaskStatus,
    progress: Number(r.progress),
    checkpoint: parse(r.checkpoint),
    result: parse(r.result),
    errorMessage: r.error_message,
    errorDetails: parse(r.error_details),
    cancelRequested: Boolean(r.cancel_requested),
    cancelReason: r.cancel_reason,
    requestId: r.request_id,
    pendingConfirmationId: r.pending_confirmation_id,
    createTime: Number(r.create_time),
    updateTime: Number(r.update_time),
    endTime: r.end_time === null ? null : Number(r.end_time),
    revision: Number(r.revision),
    attempt: Number(r.attempt),
    leaseDurationMs: nullableNumber(r.lease_duration),
    leaseExpireTime: nullableNumber(r.lease_expire_time),
    stallTime: nullableNumber(r.stall_time),
    claimRequestId: r.claim_request_id,
  };
}

function nullableNumber(v: number | string | null): number | null {
  return v === null ? null : Number(v);
}

/** The `events` row of a sequenced event; the payload is the whole event as JSON. */
export function eventToRow(e: SequencedEvent): EventRow {
  return {
    sequence: e.sequence,
    time: e.time,
    task_id: e.taskId,
    owner: e.owner,
    type: e.event.type,
    payload: JSON.stringify(e.event),
  };
}

/** The sequenced event an `events` row holds (confirmations in it completed as current ones). */
export function rowToEvent(r: EventRow): SequencedEvent {
  return {
    sequence: Number(r.sequence),
    time: Number(r.time),
    taskId: r.task_id,
    owner: r.owner,
    event: currentEvent(JSON.parse(r.payload) as TaskEvent),
  };
}

/**
 * Rows and event payloads written before a field existed lack it: each takes the value that
 * means what the row meant (no button value, no input rules, anyone may answer, no default).
 */
function currentEvent(e: TaskEvent): TaskEvent {
  switch (e.type) {
    case "confirmation_requested":
    case "confirmation_resolved":
      return { ...e, confirmation: currentConfirmation(e.confirmation) };
    case "status_changed":
      return e.pending ? { ...e, pending: currentConfirmation(e.pending) } : e;
    default:
      return e;
  }
}

function currentConfirmation(c: Confirmation): Confirmation {
  return {
    ...c,
    components: c.components.map(currentComponent),
    answerers: c.answerers ?? [],
    timeoutAction: c.timeoutAction ?? "",
    answeredBy: c.answeredBy ?? "",
    answerTime: c.answerTime ?? null,
    defaulted: c.defaulted ?? false,
  };
}

function currentComponent(c: Component): Component {
  switch (c.kind) {
    case "button":
      return { ...c, value: c.value ?? null };
    case "text_input":
      return { ...c, maxLength: c.maxLength ?? 0, pattern: c.pattern ?? "", patternDescription: c.patternDescription ?? "" };
    case "select":
      return { ...c, multiple: c.multiple ?? false, required: c.required ?? false };
    default:
      return c;
  }
}

/** The `confirmations` row of a confirmation; components are stored serialised. */
export function confirmationToRow(c: Confirmation): ConfirmationRow {
  return {
    id: c.id,
    task_id: c.taskId,
    owner: c.owner,
    surface_id: c.surfaceId,
    title: c.title,
    components: JSON.stringify(c.components),
    state: c.state,
    action: c.action,
    answer_values: json(c.values),
    request_id: c.requestId,
    create_time: c.createTime,
    expire_time: c.expireTime,
    resolve_time: c.resolveTime,
    answerers: JSON.stringify(c.answerers),
    timeout_action: c.timeoutAction,
    answered_by: c.answeredBy,
    answer_time: c.answerTime,
    defaulted: c.defaulted,
  };
}

/** The confirmation a `confirmations` row holds. */
export function rowToConfirmation(r: ConfirmationRow): Confirmation {
  return {
    id: r.id,
    taskId: r.task_id,
    owner: r.owner,
    surfaceId: r.surface_id,
    title: r.title,
    components: (JSON.parse(r.components) as Component[]).map(currentComponent),
    state: r.state as Confirmation["state"],
    action: r.action,
    values: parse(r.answer_values),
    requestId: r.request_id,
    createTime: Number(r.create_time),
    expireTime: r.expire_time === null ? null : Number(r.expire_time),
    resolveTime: r.resolve_time === null ? null : Number(r.resolve_time),
    answerers: JSON.parse(r.answerers ?? "[]") as string[],
    timeoutAction: r.timeout_action ?? "",
    answeredBy: r.answered_by ?? "",
    answerTime: r.answer_time == null ? null : Number(r.answer_time),
    defaulted: Boolean(r.defaulted),
  };
}
