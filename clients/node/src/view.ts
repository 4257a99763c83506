// Plain objects for people and tests: a task as `view()` returns it, a confirmation's answer as
// `requestConfirmation()` returns it.
import type { JsonObject } from "@bufbuild/protobuf";
import { durationMs, timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ConfirmationState,
  TaskStatus,
  type Component,
  type Confirmation,
  type Task,
} from "../../../gen/taskcontrol/v1/task_pb.js";
import type { RequestConfirmationResponse_Resolved } from "../../../gen/taskcontrol/v1/task_control_service_pb.js";

/** A task status as a lower-case word: "running", "waiting_confirmation", "succeeded", … */
export type StatusName = "running" | "waiting_confirmation" | "succeeded" | "failed" | "cancelled" | "stalled" | "unspecified";

/** How a confirmation ended, or "pending". */
export type OutcomeName = "pending" | "answered" | "expired" | "cancelled" | "unspecified";

/** "running" for TaskStatus.RUNNING. */
export function statusName(status: TaskStatus): StatusName {
  return (TaskStatus[status] ?? "UNSPECIFIED").toLowerCase() as StatusName;
}

/** "answered" for ConfirmationState.ANSWERED. */
export function outcomeName(state: ConfirmationState): OutcomeName {
  return (ConfirmationState[state] ?? "UNSPECIFIED").toLowerCase() as OutcomeName;
}

/** A confirmation as a plain object. */
export interface ConfirmationView {
  readonly id: string;
  readonly taskId: string;
  readonly surfaceId: string;
  readonly title: string;
  /** The surface, as the contract's Component messages. */
  readonly components: readonly Component[];
  readonly state: OutcomeName;
  readonly action: string;
  readonly values: JsonObject;
  readonly requestId: string;
  readonly answerers: readonly string[];
  readonly timeoutAction: string;
  readonly answeredBy: string;
  readonly defaulted: boolean;
  readonly createTime: Date | undefined;
  readonly expireTime: Date | undefined;
  readonly resolveTime: Date | undefined;
}

/** A task as a plain object (the seed's `background_tasks.view`). */
export interface TaskView {
  readonly id: string;
  readonly owner: string;
  readonly kind: string;
  readonly label: string;
  readonly status: StatusName;
  readonly progress: number;
  /** The last persisted checkpoint; undefined if none. */
  readonly checkpoint: JsonObject | undefined;
  readonly result: JsonObject | undefined;
  readonly errorMessage: string;
  readonly errorDetails: JsonObject | undefined;
  readonly cancelRequested: boolean;
  readonly cancelReason: string;
  readonly pendingConfirmation: ConfirmationView | undefined;
  readonly revision: number;
  readonly attempt: number;
  readonly leaseDurationMs: number | undefined;
  readonly createTime: Date | undefined;
  readonly updateTime: Date | undefined;
  readonly endTime: Date | undefined;
  readonly leaseExpireTime: Date | undefined;
  readonly stallTime: Date | undefined;
}

const date = (t: Timestamp | undefined): Date | undefined => (t === undefined ? undefined : timestampDate(t));

/** The plain view of a Confirmation message. */
export function confirmationView(c: Confirmation): ConfirmationView {
  return {
    id: c.id,
    taskId: c.taskId,
    surfaceId: c.surfaceId,
    title: c.title,
    components: c.components,
    state: outcomeName(c.state),
    action: c.action,
    values: c.values ?? {},
    requestId: c.requestId,
    answerers: c.answerers,
    timeoutAction: c.timeoutAction,
    answeredBy: c.answeredBy,
    defaulted: c.defaulted,
    createTime: date(c.createTime),
    expireTime: date(c.expireTime),
    resolveTime: date(c.resolveTime),
  };
}

/** The plain view of a Task message. */
export function taskView(t: Task): TaskView {
  return {
    id: t.id,
    owner: t.owner,
    kind: t.kind,
    label: t.label,
    status: statusName(t.status),
    progress: t.progress,
    checkpoint: t.checkpoint,
    result: t.result,
    errorMessage: t.errorMessage,
    errorDetails: t.errorDetails,
    cancelRequested: t.cancelRequested,
    cancelReason: t.cancelReason,
    pendingConfirmation: t.pendingConfirmation && confirmationView(t.pendingConfirmation),
    revision: Number(t.revision),
    attempt: Number(t.attempt),
    leaseDurationMs: t.leaseDuration && durationMs(t.leaseDuration),
    createTime: date(t.createTime),
    updateTime: date(t.updateTime),
    endTime: date(t.endTime),
    leaseExpireTime: date(t.leaseExpireTime),
    stallTime: date(t.stallTime),
  };
}

/** What requestConfirmation resolves to. */
export interface Decision {
  /** True only when a person answered (not when it expired, defaulted or was cancelled). */
  readonly ok: boolean;
  /** The chosen button's action; the timeout_action when defaulted; "" otherwise. */
  readonly action: string;
  /** The inputs' values keyed by component id, the clicked button's value merged in; {} if none. */
  readonly values: JsonObject;
  /** "answered", "expired" or "cancelled". */
  readonly outcome: OutcomeName;
  /** The answering principal's name; "" unless answered. */
  readonly answeredBy: string;
  /** True when the timeout took timeout_action as the answer. */
  readonly defaulted: boolean;
  readonly confirmationId: string;
  /** The task was cancelled: stop. */
  readonly cancelRequested: boolean;
}

/** The Decision of a resolved message. */
export function decisionOf(r: RequestConfirmationResponse_Resolved): Decision {
  return {
    ok: r.outcome === ConfirmationState.ANSWERED,
    action: r.action,
    values: r.values ?? {},
    outcome: outcomeName(r.outcome),
    answeredBy: r.answeredBy,
    defaulted: r.defaulted,
    confirmationId: r.confirmationId,
    cancelRequested: r.cancelRequested,
  };
}
