// Terminal rendering for taskctl: progress bars, task lines and JSON lines (pure functions).
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { TaskSchema, type Task } from "../../gen/taskcontrol/v1/task_pb.js";
import { isTerminal, percent, stallText, statusText, type TaskEntry } from "../client/task-state.js";

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

/** How `watch` lays out its rows: the id and owner columns' widths. */
export interface WatchLayout {
  /** Characters of the id shown (ids are 38 long; a prefix of 10 tells tasks apart). */
  readonly idWidth: number;
  /** Width of the owner column. */
  readonly ownerWidth: number;
}

/** The layout for these tasks on a terminal this wide: full ids when they fit. */
export function watchLayout(entries: readonly TaskEntry[], columns: number): WatchLayout {
  const longestId = Math.max(0, ...entries.map((e) => e.task.id.length));
  const ownerWidth = Math.min(16, Math.max(5, ...entries.map((e) => e.task.owner.length)));
  return { idWidth: columns >= longestId + ownerWidth + 90 ? longestId : Math.min(10, longestId), ownerWidth };
}

/**
 * One terminal line per task: id and owner (so two tasks with the same label differ), bar,
 * percent, status, label and the latest live line (none once the task finished, where a
 * failure shows its error instead).
 */
export function taskLine(entry: TaskEntry, columns = 100, layout?: WatchLayout): string {
  const t = entry.task;
  const { idWidth, ownerWidth } = layout ?? watchLayout([entry], columns);
  const who = `${t.id.slice(0, idWidth).padEnd(idWidth)} ${truncate(t.owner, ownerWidth).padEnd(ownerWidth)}  `;
  const barWidth = columns >= 100 ? 20 : Math.max(5, Math.floor(columns / 8));
  const head = `${progressBar(entry.shownProgress, barWidth)} ${String(percent(entry.shownProgress)).padStart(3)}%  ${statusText(t.status).padEnd(9)}  `;
  const label = t.label || t.kind || t.id;
  const ended = isTerminal(t.status);
  const stalled = stallText(t);
  const tail = ended
    ? t.errorMessage
      ? `  (${t.errorMessage})`
      : ""
    : stalled
      ? `  › ${stalled}`
      : entry.liveLine === ""
        ? ""
        : `  › ${entry.liveLine}`;
  return truncate(who + head + label + tail, columns);
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

/** Column widths of `taskctl list`'s table. */
export interface ListLayout {
  readonly id: number;
  readonly owner: number;
  /** Room for the label; undefined: no limit (not a terminal). */
  readonly label: number | undefined;
}

const STATUS_WIDTH = 15;

/**
 * Widths for these rows: the whole id always (it is what `get` and `cancel` take), the owner
 * up to 20, and on a terminal the label cut to what is left of `columns`.
 */
export function listLayout(tasks: readonly Task[], columns: number | undefined): ListLayout {
  const id = Math.max(2, ...tasks.map((t) => t.id.length));
  const owner = Math.min(20, Math.max(5, ...tasks.map((t) => t.owner.length)));
  const fixed = id + 1 + STATUS_WIDTH + 1 + 4 + 2 + owner + 1;
  return { id, owner, label: columns === undefined ? undefined : Math.max(10, columns - fixed) };
}

/** Row of `taskctl list`'s table. */
export function listRow(t: Task, layout: ListLayout = listLayout([t], undefined)): string {
  const label = layout.label === undefined ? t.label : truncate(t.label, layout.label);
  return `${t.id.padEnd(layout.id)} ${statusText(t.status).padEnd(STATUS_WIDTH)} ${String(percent(t.progress)).padStart(3)}%  ${truncate(t.owner, layout.owner).padEnd(layout.owner)} ${label}`;
}

/** Header of `taskctl list`'s table. */
export function listHeader(layout: ListLayout): string {
  return `${"ID".padEnd(layout.id)} ${"STATUS".padEnd(STATUS_WIDTH)} ${"DONE".padStart(4)}  ${"OWNER".padEnd(layout.owner)} LABEL`;
}

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
