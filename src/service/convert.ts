import { create } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { DurationSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type * as d from "../domain/model.js";
import { isTerminal } from "../domain/model.js";
import type { WatchItem } from "../domain/ports.js";
import {
  type Component,
  ComponentSchema,
  Component_Style,
  type Confirmation,
  ConfirmationSchema,
  ConfirmationState,
  type Task,
  TaskSchema,
  TaskStatus,
} from "../../gen/taskcontrol/v1/task_pb.js";
import { type WatchTasksResponse, WatchTasksResponseSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** Translations between the domain and the generated messages, in both directions. */

const STATUS_TO_PROTO: Record<d.TaskStatus, TaskStatus> = {
  running: TaskStatus.RUNNING,
  waiting_confirmation: TaskStatus.WAITING_CONFIRMATION,
  stalled: TaskStatus.STALLED,
  succeeded: TaskStatus.SUCCEEDED,
  failed: TaskStatus.FAILED,
  cancelled: TaskStatus.CANCELLED,
};

const STATUS_FROM_PROTO = new Map<TaskStatus, d.TaskStatus>(
  Object.entries(STATUS_TO_PROTO).map(([k, v]) => [v, k as d.TaskStatus]),
);

const STATE_TO_PROTO: Record<d.ConfirmationState, ConfirmationState> = {
  pending: ConfirmationState.PENDING,
  answered: ConfirmationState.ANSWERED,
  expired: ConfirmationState.EXPIRED,
  cancelled: ConfirmationState.CANCELLED,
};

const STYLE_TO_PROTO: Record<d.ButtonStyle, Component_Style> = {
  unspecified: Component_Style.UNSPECIFIED,
  primary: Component_Style.PRIMARY,
  secondary: Component_Style.SECONDARY,
  danger: Component_Style.DANGER,
};

const STYLE_FROM_PROTO = new Map<Component_Style, d.ButtonStyle>(
  Object.entries(STYLE_TO_PROTO).map(([k, v]) => [v, k as d.ButtonStyle]),
);

/** A task status as the contract's enum. */
export function statusToProto(status: d.TaskStatus | null): TaskStatus {
  return status === null ? TaskStatus.UNSPECIFIED : STATUS_TO_PROTO[status];
}

/** Status filters from a request; UNSPECIFIED (or unknown numbers) match nothing. */
export function statusesFromProto(statuses: readonly TaskStatus[]): d.TaskStatus[] | "none" {
  const out = statuses.flatMap((s) => {
    const mapped = STATUS_FROM_PROTO.get(s);
    return mapped ? [mapped] : [];
  });
  return statuses.length > 0 && out.length === 0 ? "none" : out;
}

function ts(ms: number | null): Timestamp | undefined {
  return ms === null ? undefined : timestampFromMs(ms);
}

/** Epoch milliseconds (or null) as a Timestamp (or unset). */
export const timestampToProto = ts;

/** A domain task as the contract's Task, with its pending confirmation when given. */
export function taskToProto(t: d.Task, pending: d.Confirmation | null = null): Task {
  return create(TaskSchema, {
    id: t.id,
    owner: t.owner,
    kind: t.kind,
    label: t.label,
    status: STATUS_TO_PROTO[t.status],
    progress: t.progress,
    checkpoint: t.checkpoint ?? undefined,
    result: t.result ?? undefined,
    errorMessage: t.errorMessage,
    errorDetails: t.errorDetails ?? undefined,
    cancelRequested: t.cancelRequested,
    cancelReason: t.cancelReason,
    pendingConfirmation: pending && pending.id === t.pendingConfirmationId ? confirmationToProto(pending) : undefined,
    createTime: ts(t.createTime),
    updateTime: ts(t.updateTime),
    endTime: ts(t.endTime),
    revision: BigInt(t.revision),
    attempt: BigInt(t.attempt),
    leaseExpireTime: isTerminal(t.status) ? undefined : ts(t.leaseExpireTime),
    leaseDuration: t.leaseDurationMs ? durationFromMs(t.leaseDurationMs) : undefined,
    stallTime: t.status === "stalled" ? ts(t.stallTime) : undefined,
  });
}

/** A domain confirmation as the contract's Confirmation. */
export function confirmationToProto(c: d.Confirmation): Confirmation {
  return create(ConfirmationSchema, {
    id: c.id,
    taskId: c.taskId,
    surfaceId: c.surfaceId,
    title: c.title,
    components: c.components.map(componentToProto),
    state: STATE_TO_PROTO[c.state],
    action: c.action,
    values: c.values ?? undefined,
    createTime: ts(c.createTime),
    expireTime: ts(c.expireTime),
    resolveTime: ts(c.resolveTime),
    requestId: c.requestId ?? "",
    answerers: [...c.answerers],
    timeoutAction: c.timeoutAction,
    answeredBy: c.answeredBy,
    answerTime: ts(c.answerTime),
    defaulted: c.defaulted,
  });
}

/** The contract's confirmation state for a domain one. */
export function stateToProto(state: d.ConfirmationState): ConfirmationState {
  return STATE_TO_PROTO[state];
}

function componentToProto(c: d.Component): Component {
  switch (c.kind) {
    case "text":
      return create(ComponentSchema, { id: c.id, kind: { case: "text", value: { text: c.text } } });
    case "button":
      return create(ComponentSchema, {
        id: c.id,
        kind: {
          case: "button",
          value: { label: c.label, action: c.action, style: STYLE_TO_PROTO[c.style], value: c.value ?? undefined },
        },
      });
    case "text_input":
      return create(ComponentSchema, {
        id: c.id,
        kind: {
          case: "textInput",
          value: {
            label: c.label,
            placeholder: c.placeholder,
            defaultValue: c.defaultValue,
            required: c.required,
            maxLength: c.maxLength,
            pattern: c.pattern,
            patternDescription: c.patternDescription,
          },
        },
      });
    case "select":
      return create(ComponentSchema, {
        id: c.id,
        kind: {
          case: "select",
          value: {
            label: c.label,
            options: c.options.map((o) => ({ ...o })),
            defaultValue: c.defaultValue,
            multiple: c.multiple,
            required: c.required,
          },
        },
      });
    case "checkbox":
      return create(ComponentSchema, {
        id: c.id,
        kind: { case: "checkbox", value: { label: c.label, defaultValue: c.defaultValue } },
      });
    case "number_input":
      return create(ComponentSchema, {
        id: c.id,
        kind: {
          case: "numberInput",
          value: {
            label: c.label,
            required: c.required,
            ...(c.min !== null ? { min: c.min } : {}),
            ...(c.max !== null ? { max: c.max } : {}),
            ...(c.step !== null ? { step: c.step } : {}),
            ...(c.defaultValue !== null ? { defaultValue: c.defaultValue } : {}),
          },
        },
      });
  }
}

/** The contract's components as domain components (validated at the edge: every one has a kind). */
export function componentsFromProto(components: readonly Component[]): d.Component[] {
  return components.map((c, i): d.Component => {
    const k = c.kind;
    switch (k.case) {
      case "text":
        return { id: c.id, kind: "text", text: k.value.text };
      case "button":
        return {
          id: c.id,
          kind: "button",
          label: k.value.label,
          action: k.value.action,
          style: STYLE_FROM_PROTO.get(k.value.style) ?? "unspecified",
          value: k.value.value ?? null,
        };
      case "textInput":
        return {
          id: c.id,
          kind: "text_input",
          label: k.value.label,
          placeholder: k.value.placeholder,
          defaultValue: k.value.defaultValue,
          required: k.value.required,
          maxLength: k.value.maxLength,
          pattern: k.value.pattern,
          patternDescription: k.value.patternDescription,
        };
      case "select":
        return {
          id: c.id,
          kind: "select",
          label: k.value.label,
          options: k.value.options.map((o) => ({ value: o.value, label: o.label || o.value })),
          defaultValue: k.value.defaultValue,
          multiple: k.value.multiple,
          required: k.value.required,
        };
      case "checkbox":
        return { id: c.id, kind: "checkbox", label: k.value.label, defaultValue: k.value.defaultValue };
      case "numberInput":
        return {
          id: c.id,
          kind: "number_input",
          label: k.value.label,
          min: k.value.min ?? null,
          max: k.value.max ?? null,
          step: k.value.step ?? null,
          required: k.value.required,
          defaultValue: k.value.defaultValue ?? null,
        };
      default:
        throw new Error(`components[${i}] has no kind: the request was not validated`);
    }
  });
}

/** Milliseconds as a Duration. */
export function durationFromMs(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
}

/** A (validated) Duration as milliseconds; unset is 0 (wait forever). */
export function durationToMs(d: Duration | undefined): number {
  if (!d) return 0;
  return Number(d.seconds) * 1000 + Math.ceil(d.nanos / 1e6);
}

const eventCache = new WeakMap<d.SequencedEvent, WatchTasksResponse>();

/**
 * A watch item as the stream message. Persisted and live events are converted once per
 * event, whatever the number of watchers: every subscriber receives the same event object.
 */
export function watchItemToProto(item: WatchItem): WatchTasksResponse {
  switch (item.kind) {
    case "snapshot":
      return create(WatchTasksResponseSchema, {
        sequence: BigInt(item.sequence),
        time: timestampFromMs(Date.now()),
        event: { case: "snapshot", value: { task: taskToProto(item.task, item.pending) } },
      });
    case "snapshot_end":
      return create(WatchTasksResponseSchema, {
        sequence: BigInt(item.sequence),
        time: timestampFromMs(Date.now()),
        event: { case: "snapshotEnd", value: {} },
      });
    case "bookmark":
      return create(WatchTasksResponseSchema, {
        sequence: BigInt(item.sequence),
        time: timestampFromMs(Date.now()),
        event: { case: "bookmark", value: {} },
      });
    case "event": {
      const cached = eventCache.get(item.event);
      if (cached) return cached;
      const message = eventToProto(item.event);
      eventCache.set(item.event, message);
      return message;
    }
  }
}

function eventToProto(se: d.SequencedEvent): WatchTasksResponse {
  const base = { sequence: BigInt(se.sequence), time: timestampFromMs(se.time) };
  const e = se.event;
  switch (e.type) {
    case "task_created":
      return create(WatchTasksResponseSchema, { ...base, event: { case: "taskCreated", value: { task: taskToProto(e.task) } } });
    case "progress":
      return create(WatchTasksResponseSchema, {
        ...base,
        event: {
          case: "progress",
          value: {
            taskId: e.taskId,
            owner: e.owner,
            progress: e.progress,
            label: e.label,
            checkpoint: e.checkpoint ?? undefined,
            persisted: e.persisted,
          },
        },
      });
    case "confirmation_requested":
      return create(WatchTasksResponseSchema, {
        ...base,
        event: { case: "confirmationRequested", value: { confirmation: confirmationToProto(e.confirmation) } },
      });
    case "confirmation_resolved":
      return create(WatchTasksResponseSchema, {
        ...base,
        event: { case: "confirmationResolved", value: { confirmation: confirmationToProto(e.confirmation) } },
      });
    case "status_changed":
      return create(WatchTasksResponseSchema, {
        ...base,
        event: { case: "statusChanged", value: { task: taskToProto(e.task, e.pending ?? null) } },
      });
  }
}
