// Terminal rendering for taskctl: progress bars, task lines and JSON lines (pure functions).
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { TaskSchema, type Task } from "../../gen/taskcontrol/v1/task_pb.js";
import { percent, stallText, statusText, type TaskEntry } from "../client/task-state.js";

/** A fixed-width bar like "██████░░░░" for a fraction in [0, 1]. */
export function progressBar(progress: number, width = 20): string {
  const cells = Math.max(1, width);
  const filled = Math.round((percent(progress) / 100) * cells);
  return "█".repeat(filled) + "░".repeat(cells - filled);
}

/** Cuts a string to at most `max` characters, ending with "…" when cut. */
export function truncate(text: string, max: number): string {
  if (max <= 0) return "";
  const clean = text.replace(/[\r\n\t]+/g, " ");
  return clean.length <= max ? clean : `${clean.slice(0, Math.max(0, max - 1))}…`;
}

/** One terminal line per task: bar, percent, status, label and the latest live line. */
export function taskLine(entry: TaskEntry, columns = 100): string {
  const t = entry.task;
  const barWidth = columns >= 80 ? 20 : Math.max(5, Math.floor(columns / 6));
  const head = `${progressBar(entry.shownProgress, barWidth)} ${String(percent(entry.shownProgress)).padStart(3)}%  ${statusText(t.status).padEnd(9)}  `;
  const label = t.label || t.kind || t.id;
  const stalled = stallText(t);
  const live = stalled ? `  › ${stalled}` : entry.liveLine === "" ? "" : `  › ${entry.liveLine}`;
  return truncate(head + label + live, columns);
}

/** A single line "key: value" block describing a task, for `taskctl get`. */
export function describeTask(t: Task): string {
  const lines: [string, string][] = [
    ["id", t.id],
    ["owner", t.owner],
    ["kind", t.kind],
    ["label", t.label],
    ["status", statusText(t.status)],
    ["progress", `${progressBar(t.progress)} ${percent(t.progress)}%`],
    ["created", time(t.createTime)],
    ["updated", time(t.updateTime)],
    ["ended", time(t.endTime)],
    ["revision", String(t.revision)],
    ["attempt", t.attempt > 1n || t.leaseDuration !== undefined ? String(t.attempt) : ""],
    ["stalled", stallText(t)],
    ["lease expires", time(t.leaseExpireTime)],
  ];
  if (t.cancelRequested) lines.push(["cancel requested", `yes${t.cancelReason ? ` (${t.cancelReason})` : ""}`]);
  if (t.errorMessage) lines.push(["error", t.errorMessage]);
  if (t.checkpoint !== undefined) lines.push(["checkpoint", JSON.stringify(t.checkpoint)]);
  if (t.result !== undefined) lines.push(["result", JSON.stringify(t.result)]);
  const c = t.pendingConfirmation;
  if (c !== undefined) {
    lines.push(["waiting for you", `${c.title} (confirmation ${c.id})`]);
    lines.push(["answer with", confirmHint(c.id, actionsOf(c.components))]);
  }
  return lines
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${`${k}:`.padEnd(17)} ${v}`)
    .join("\n");
}

/** Row of `taskctl list`'s table. */
export function listRow(t: Task): string {
  return `${t.id.padEnd(28)} ${statusText(t.status).padEnd(15)} ${String(percent(t.progress)).padStart(3)}%  ${t.owner.padEnd(12)} ${t.label}`;
}

/** Header of `taskctl list`'s table. */
export const LIST_HEADER = `${"ID".padEnd(28)} ${"STATUS".padEnd(15)} ${"DONE".padStart(4)}  ${"OWNER".padEnd(12)} LABEL`;

/** The button actions of a confirmation surface, in order. */
export function actionsOf(components: readonly { kind: { case: string | undefined; value?: unknown } }[]): string[] {
  const out: string[] = [];
  for (const c of components) {
    if (c.kind.case === "button") out.push((c.kind.value as { action: string }).action);
  }
  return out;
}

/** The command a user can run to answer a confirmation. */
export function confirmHint(confirmationId: string, actions: readonly string[]): string {
  return `taskctl confirm ${confirmationId} --action ${actions.length > 0 ? actions.join("|") : "<action>"}`;
}

/** Local clock time for text output. */
export function time(ts: Timestamp | undefined): string {
  if (ts === undefined) return "";
  return timestampDate(ts).toISOString();
}

/** One proto message as one JSON line (canonical proto3 JSON, int64 as strings). */
export function jsonLine<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  return JSON.stringify(toJson(schema, message));
}

/** A task as a JSON line. */
export function taskJson(t: Task): string {
  return jsonLine(TaskSchema, t);
}
