// How a person reads decisions and a task's history, shared by the web monitor and taskctl
// (no Node or DOM APIs): who may answer, who answered what and when, and one line per
// persisted event of a task (ListTaskEvents).
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { type Confirmation, ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";
import type { TaskControlService, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import type { Client } from "@connectrpc/connect";

/** Formats a time for a line (the caller's locale and clock: "10:02"). */
export type TimeFormat = (d: Date) => string;

/** Hours and minutes, as a person reads them on a card: "10:02". */
export const hoursMinutes: TimeFormat = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function at(ts: Timestamp | undefined, format: TimeFormat): string {
  return ts === undefined ? "" : ` at ${format(timestampDate(ts))}`;
}

/** "Who may answer: alice-ui, any gateway"; "" when the default rule applies (no answerers). */
export function answerersText(c: Confirmation): string {
  if (c.answerers.length === 0) return "";
  const names = c.answerers.map((a) => (a.startsWith("role:") ? `any ${a.slice("role:".length)}` : a));
  return `Who may answer: ${names.join(", ")} (and admins)`;
}

/** The label of the button whose action this is (the action itself if no button has it). */
export function actionLabel(c: Confirmation, action: string): string {
  for (const comp of c.components) {
    if (comp.kind.case === "button" && comp.kind.value.action === action) return comp.kind.value.label || action;
  }
  return action;
}

/**
 * How a confirmation ended, in one line: "answered Replace by alice at 10:02", "no answer:
 * took Keep (the default) at 10:05", "expired at 10:05", "cancelled at 10:05"; "" while pending.
 */
export function outcomeText(c: Confirmation, format: TimeFormat = hoursMinutes): string {
  switch (c.state) {
    case ConfirmationState.ANSWERED:
      return `answered ${actionLabel(c, c.action)} by ${c.answeredBy || "someone"}${at(c.answerTime ?? c.resolveTime, format)}`;
    case ConfirmationState.EXPIRED:
      return c.defaulted
        ? `no answer: took ${actionLabel(c, c.action)} (the default)${at(c.answerTime ?? c.resolveTime, format)}`
        : `expired unanswered${at(c.resolveTime, format)}`;
    case ConfirmationState.CANCELLED:
      return `cancelled${at(c.resolveTime, format)}`;
    default:
      return "";
  }
}

/** One line of a task's timeline. */
export interface TimelineLine {
  readonly sequence: bigint;
  readonly time: Date | undefined;
  readonly text: string;
}

const STATUS_WORDS: Partial<Record<TaskStatus, string>> = {
  [TaskStatus.RUNNING]: "running",
  [TaskStatus.WAITING_CONFIRMATION]: "waiting for a decision",
  [TaskStatus.SUCCEEDED]: "succeeded",
  [TaskStatus.FAILED]: "failed",
  [TaskStatus.CANCELLED]: "cancelled",
};

/**
 * A task's persisted events as lines: milestones with their labels, confirmations asked
 * (with who may answer) and how they ended (with who answered), status changes.
 */
export function timelineLines(events: readonly WatchTasksResponse[]): TimelineLine[] {
  const lines: TimelineLine[] = [];
  for (const e of events) {
    const text = eventText(e);
    if (text !== "") lines.push({ sequence: e.sequence, time: e.time === undefined ? undefined : timestampDate(e.time), text });
  }
  return lines;
}

function eventText(e: WatchTasksResponse): string {
  const ev = e.event;
  switch (ev.case) {
    case "taskCreated":
      return `created: ${ev.value.task?.label || ev.value.task?.kind || "task"}`;
    case "progress":
      return `${Math.round(ev.value.progress * 100)}%${ev.value.label ? ` ${ev.value.label}` : ""}`;
    case "confirmationRequested": {
      const c = ev.value.confirmation;
      if (c === undefined) return "";
      const who = answerersText(c);
      return `asked: ${c.title || "a confirmation"}${who ? ` (${who.charAt(0).toLowerCase()}${who.slice(1)})` : ""}`;
    }
    case "confirmationResolved": {
      const c = ev.value.confirmation;
      return c === undefined ? "" : `${c.title || "confirmation"}: ${outcomeText(c)}`;
    }
    case "statusChanged": {
      const t = ev.value.task;
      if (t === undefined) return "";
      const word = STATUS_WORDS[t.status] ?? "changed";
      const why = t.status === TaskStatus.FAILED && t.errorMessage ? `: ${t.errorMessage}` : t.status === TaskStatus.CANCELLED && t.cancelReason ? `: ${t.cancelReason}` : "";
      return `status ${word}${why}`;
    }
    default:
      return "";
  }
}

/** Every persisted event of a task, oldest first, reading ListTaskEvents page by page. */
export async function readTaskHistory(client: Client<typeof TaskControlService>, taskId: string, pageSize = 500): Promise<WatchTasksResponse[]> {
  const events: WatchTasksResponse[] = [];
  let pageToken = "";
  do {
    const page = await client.listTaskEvents({ taskId, pageSize, pageToken });
    events.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return events;
}
