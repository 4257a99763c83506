/** Plain domain types: no generated code, no transport, no ORM. Times are epoch milliseconds. */

/** JSON value as stored in checkpoints, results and answers. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object (the shape of a google.protobuf.Struct). */
export type JsonObject = { [key: string]: JsonValue };

/** Where a task is in its life; succeeded, failed and cancelled are terminal. */
export type TaskStatus = "running" | "waiting_confirmation" | "stalled" | "succeeded" | "failed" | "cancelled";
/** Where a confirmation is in its life; all but pending are final. */
export type ConfirmationState = "pending" | "answered" | "expired" | "cancelled";

/** Statuses after which a task refuses every further change. */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** True for succeeded, failed and cancelled. */
export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** A task as stored. Objects are immutable: every change makes a new one. */
export interface Task {
  readonly id: string;
  readonly owner: string;
  readonly kind: string;
  readonly label: string;
  readonly status: TaskStatus;
  readonly progress: number;
  readonly checkpoint: JsonObject | null;
  readonly result: JsonObject | null;
  readonly errorMessage: string;
  readonly errorDetails: JsonObject | null;
  readonly cancelRequested: boolean;
  readonly cancelReason: string;
  /** CreateTask idempotency key; null when none was given. */
  readonly requestId: string | null;
  /** Id of the PENDING confirmation while status is waiting_confirmation. */
  readonly pendingConfirmationId: string | null;
  readonly createTime: number;
  readonly updateTime: number;
  readonly endTime: number | null;
  /** Incremented by every persisted change; starts at 1. */
  readonly revision: number;
  /** Which run of the job holds the task: 1 when created, + 1 per ClaimTask. */
  readonly attempt: number;
  /** The lease's length in ms; null without a lease. */
  readonly leaseDurationMs: number | null;
  /**
   * When the lease lapses as last persisted; null without a lease. The replica serving the
   * worker's calls knows a later expiry in memory (domain/leases.ts) and renews this at most
   * about once per lease duration.
   */
  readonly leaseExpireTime: number | null;
  /** When the task last went stalled; null unless status is stalled. */
  readonly stallTime: number | null;
  /** The request_id of the ClaimTask that made the current attempt; null when none. */
  readonly claimRequestId: string | null;
}

/** Rendering hint of a button. */
export type ButtonStyle = "unspecified" | "primary" | "secondary" | "danger";

/** One UI primitive of a confirmation surface (the SDK Builder's parts). */
export type Component =
  | { readonly id: string; readonly kind: "text"; readonly text: string }
  | {
      readonly id: string;
      readonly kind: "button";
      readonly label: string;
      readonly action: string;
      readonly style: ButtonStyle;
      /** Merged into the answer's values when this button is clicked; null for none. */
      readonly value: JsonObject | null;
    }
  | {
      readonly id: string;
      readonly kind: "text_input";
      readonly label: string;
      readonly placeholder: string;
      readonly defaultValue: string;
      readonly required: boolean;
      /** Longest value in characters (code points); 0 = LIMITS.textLength. */
      readonly maxLength: number;
      /** RE2 pattern the whole value must match; "" = any. */
      readonly pattern: string;
      /** Shown when the value does not match; "" = a generic message. */
      readonly patternDescription: string;
    }
  | {
      readonly id: string;
      readonly kind: "select";
      readonly label: string;
      readonly options: readonly { readonly value: string; readonly label: string }[];
      readonly defaultValue: string;
      /** The value is a list of option values. */
      readonly multiple: boolean;
      readonly required: boolean;
    }
  | { readonly id: string; readonly kind: "checkbox"; readonly label: string; readonly defaultValue: boolean }
  | {
      readonly id: string;
      readonly kind: "number_input";
      readonly label: string;
      readonly min: number | null;
      readonly max: number | null;
      /** The value must be (min ?? 0) plus a whole multiple of step; null = any. */
      readonly step: number | null;
      readonly required: boolean;
      readonly defaultValue: number | null;
    };

/** The kinds of component that take a value in an answer. */
export type InputComponent = Extract<Component, { kind: "text_input" | "select" | "checkbox" | "number_input" }>;

/** True for the components an answer's values are keyed by. */
export function isInput(c: Component): c is InputComponent {
  return c.kind !== "text" && c.kind !== "button";
}

/** A decision a running task asks its user for. Immutable like Task. */
export interface Confirmation {
  readonly id: string;
  readonly taskId: string;
  /** The task's owner, kept here so scoping needs no join. */
  readonly owner: string;
  readonly surfaceId: string;
  readonly title: string;
  readonly components: readonly Component[];
  readonly state: ConfirmationState;
  readonly action: string;
  readonly values: JsonObject | null;
  /** The worker's re-attach key; null when none was given. */
  readonly requestId: string | null;
  readonly createTime: number;
  readonly expireTime: number | null;
  readonly resolveTime: number | null;
  /** Who may answer: principal names or "role:<role>"; empty = the owner's users, gateways, admins. */
  readonly answerers: readonly string[];
  /** The button action taken when the timeout passes; "" = none. */
  readonly timeoutAction: string;
  /** The answering principal's name; "" until answered (and when the timeout took the default). */
  readonly answeredBy: string;
  /** When the answer (or the timeout's default) was recorded; null until then. */
  readonly answerTime: number | null;
  /** True when the confirmation ended expired with timeoutAction taken as the answer. */
  readonly defaulted: boolean;
}

/** What happened, as pushed to watchers and (when persisted) kept in the event log. */
export type TaskEvent =
  | { readonly type: "task_created"; readonly task: Task }
  | {
      readonly type: "progress";
      readonly taskId: string;
      readonly owner: string;
      readonly progress: number;
      readonly label: string;
      readonly checkpoint: JsonObject | null;
      readonly persisted: boolean;
    }
  | { readonly type: "confirmation_requested"; readonly confirmation: Confirmation }
  | { readonly type: "confirmation_resolved"; readonly confirmation: Confirmation }
  | {
      readonly type: "status_changed";
      readonly task: Task;
      /** The confirmation the task now waits on, when it moved to waiting_confirmation. */
      readonly pending?: Confirmation | undefined;
    };

/** An event with its place in the global order. Live events carry the last persisted sequence. */
export interface SequencedEvent {
  readonly sequence: number;
  readonly time: number;
  readonly taskId: string;
  readonly owner: string;
  readonly event: TaskEvent;
}

/** The task id an event is about. */
export function eventTaskId(event: TaskEvent): string {
  switch (event.type) {
    case "progress":
      return event.taskId;
    case "confirmation_requested":
    case "confirmation_resolved":
      return event.confirmation.taskId;
    default:
      return event.task.id;
  }
}

/** The owner of the task an event is about. */
export function eventOwner(event: TaskEvent): string {
  switch (event.type) {
    case "progress":
      return event.owner;
    case "confirmation_requested":
    case "confirmation_resolved":
      return event.confirmation.owner;
    default:
      return event.task.owner;
  }
}
