// The task cards: one <li> per task, updated in place so open <details> and focus survive.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { type Confirmation, TaskStatus, type Task } from "../../gen/taskcontrol/v1/task_pb.js";
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { outcomeText } from "../../src/client/decisions.js";
import {
  isTerminal,
  percent,
  stallText,
  statusText,
  type TaskEntry,
} from "../../src/client/task-state.js";
import { h, setText } from "./dom.js";
import { TaskTimeline } from "./timeline.js";

/** The filter choices of the "Show" select, by option value. */
export const STATUS_FILTERS: Record<string, (s: TaskStatus) => boolean> = {
  all: () => true,
  active: (s) => s === TaskStatus.RUNNING || s === TaskStatus.WAITING_CONFIRMATION || s === TaskStatus.STALLED,
  running: (s) => s === TaskStatus.RUNNING,
  waiting: (s) => s === TaskStatus.WAITING_CONFIRMATION,
  succeeded: (s) => s === TaskStatus.SUCCEEDED,
  failed: (s) => s === TaskStatus.FAILED,
  cancelled: (s) => s === TaskStatus.CANCELLED,
};

/** What a card asks the page to do; the page owns the client and the dialog. */
export interface CardActions {
  cancel(task: Task): void;
  answer(task: Task): void;
  /** The task's persisted history (ListTaskEvents, every page). */
  history(task: Task): Promise<WatchTasksResponse[]>;
}

/** Stable short status key used in data-status attributes and CSS. */
export function statusKey(status: TaskStatus): string {
  return status === TaskStatus.WAITING_CONFIRMATION ? "waiting" : statusText(status);
}

/** A time with its date, always (a card left open overnight must not mislead). */
function formatTime(ts: Timestamp | undefined): { text: string; iso: string } | undefined {
  if (ts === undefined) return undefined;
  const d = timestampDate(ts);
  return {
    text: d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }),
    iso: d.toISOString(),
  };
}

/** A card's title: the label, else the kind, else "Untitled task" (the id is in the meta line). */
export function taskTitle(t: Task): string {
  return t.label || t.kind || "Untitled task";
}

/**
 * The title as drawn: a cancelled task's label named what it was doing, not what it does
 * now, so it says where it stopped.
 */
function shownTitle(t: Task): { text: string; stale: boolean } {
  if (t.status === TaskStatus.CANCELLED && t.label !== "") return { text: `Stopped at: ${t.label}`, stale: true };
  return { text: taskTitle(t), stale: false };
}

/** A JSON payload for people: indented, "" for none. */
function jsonText(value: unknown): string {
  return value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
}

/** One task card; update() redraws it from the entry without recreating elements. */
export class TaskCard {
  /** The <li> placed in the list. */
  readonly el: HTMLLIElement;
  private readonly title: HTMLHeadingElement;
  private readonly badge: HTMLSpanElement;
  private readonly meta: HTMLParagraphElement;
  private readonly bar: HTMLDivElement;
  private readonly fill: HTMLDivElement;
  private readonly pct: HTMLSpanElement;
  private readonly live: HTMLParagraphElement;
  private readonly waiting: HTMLParagraphElement;
  private readonly errorLine: HTMLParagraphElement;
  private readonly times: HTMLDListElement;
  private readonly checkpoint: HTMLDetailsElement;
  private readonly checkpointPre: HTMLPreElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly cancelConfirm: HTMLSpanElement;
  private readonly outcome: HTMLDetailsElement;
  private readonly outcomeSummary: HTMLElement;
  private readonly outcomePre: HTMLPreElement;
  private readonly answerButton: HTMLButtonElement;
  /** How the task's latest confirmation ended ("answered Replace by alice at 10:02"). */
  private readonly answered: HTMLParagraphElement;
  private entry: TaskEntry;
  /** Re-draws a stalled card's "no word for N s" every second while it stays stalled. */
  private stallTimer: ReturnType<typeof setInterval> | undefined;

  constructor(entry: TaskEntry, actions: CardActions) {
    this.entry = entry;
    const base = `task-${cssId(entry.task.id)}`;
    this.title = h("h2", { id: `${base}-label`, class: "label" });
    this.badge = h("span", { class: "badge status" });
    this.meta = h("p", { class: "meta" });
    this.fill = h("div", { class: "bar-fill" });
    this.bar = h(
      "div",
      {
        class: "bar",
        role: "progressbar",
        "aria-valuemin": "0",
        "aria-valuemax": "100",
        "aria-labelledby": `${base}-label`,
      },
      this.fill,
    );
    this.pct = h("span", { class: "pct", "aria-hidden": "true" });
    this.live = h("p", { class: "live", "data-role": "live-line" });
    this.answerButton = h("button", { type: "button", class: "primary answer" }, "Answer…");
    this.answerButton.addEventListener("click", () => actions.answer(this.entry.task));
    this.waiting = h(
      "p",
      { class: "waiting", hidden: true },
      h("span", {}, "Waiting for you"),
      this.answerButton,
    );
    this.errorLine = h("p", { class: "error-line", hidden: true });
    this.answered = h("p", { class: "answered", "data-role": "answered", hidden: true });
    const timeline = new TaskTimeline(() => actions.history(this.entry.task));
    this.times = h("dl", { class: "times" });
    this.checkpointPre = h("pre", { tabindex: "0", "aria-label": "Checkpoint JSON" });
    this.checkpoint = h(
      "details",
      { class: "checkpoint", hidden: true },
      h("summary", {}, "Checkpoint"),
      this.checkpointPre,
    );
    this.cancelButton = h(
      "button",
      { type: "button", class: "danger cancel", "aria-describedby": `${base}-label` },
      "Cancel task",
    );
    this.cancelConfirm = this.cancelQuestion(actions);
    this.cancelButton.addEventListener("click", () => this.askCancel(true));
    this.outcomeSummary = h("summary", {}, "Result");
    this.outcomePre = h("pre", { tabindex: "0" });
    this.outcome = h("details", { class: "outcome", hidden: true }, this.outcomeSummary, this.outcomePre);
    const article = h(
      "article",
      { "aria-labelledby": `${base}-label` },
      h("div", { class: "card-head" }, this.title, this.badge),
      this.meta,
      h("div", { class: "bar-row" }, this.bar, this.pct),
      this.live,
      this.waiting,
      this.answered,
      this.errorLine,
      this.outcome,
      this.times,
      this.checkpoint,
      timeline.el,
      h("div", { class: "actions" }, this.cancelButton, this.cancelConfirm),
    );
    this.el = h("li", { class: "card", "data-task-id": entry.task.id }, article);
    this.update(entry);
  }

  /** Redraws from the entry (cheap: only changed text is written). */
  update(entry: TaskEntry): void {
    this.entry = entry;
    const t = entry.task;
    const key = statusKey(t.status);
    this.el.dataset["status"] = key;
    const title = shownTitle(t);
    setText(this.title, title.text);
    this.title.classList.toggle("stale", title.stale);
    setText(this.badge, statusText(t.status));
    this.badge.dataset["status"] = key;
    setText(this.meta, [t.kind, t.owner && `owner ${t.owner}`, `id ${t.id}`].filter(Boolean).join(" · "));
    const p = percent(entry.shownProgress);
    this.fill.style.width = `${p}%`;
    this.bar.setAttribute("aria-valuenow", String(p));
    this.bar.setAttribute("aria-valuetext", `${p}%`);
    setText(this.pct, `${p}%`);
    setText(this.live, entry.liveLine);
    this.live.title = entry.liveTime === undefined ? "" : `live line at ${entry.liveTime.toLocaleTimeString()}`;
    const pending = t.pendingConfirmation !== undefined && t.status === TaskStatus.WAITING_CONFIRMATION;
    this.waiting.hidden = !pending;
    this.answerButton.setAttribute(
      "aria-label",
      `Answer: ${t.pendingConfirmation?.title || "confirmation"} (${t.label || t.id})`,
    );
    const stalled = stallText(t);
    const err =
      t.status === TaskStatus.FAILED
        ? t.errorMessage || "failed"
        : t.status === TaskStatus.CANCELLED && t.cancelReason
          ? `Cancelled: ${t.cancelReason}`
          : stalled && `Stalled: ${stalled}`;
    setText(this.errorLine, err);
    this.errorLine.hidden = err === "";
    this.tickWhileStalled(stalled !== "");
    this.drawTimes(t);
    const cp = t.checkpoint === undefined ? "" : JSON.stringify(t.checkpoint, null, 2);
    this.checkpoint.hidden = cp === "";
    setText(this.checkpointPre, cp);
    this.drawOutcome(t);
    if (isTerminal(t.status)) this.askCancel(false);
    this.cancelButton.hidden = isTerminal(t.status) || !this.cancelConfirm.hidden;
  }

  /** "Cancel task" asks first: the question replaces the button until answered. */
  private cancelQuestion(actions: CardActions): HTMLSpanElement {
    const yes = h("button", { type: "button", class: "danger confirm-yes" }, "Yes, cancel it");
    const no = h("button", { type: "button", class: "confirm-no" }, "Keep it running");
    yes.addEventListener("click", () => {
      this.askCancel(false);
      actions.cancel(this.entry.task);
    });
    no.addEventListener("click", () => {
      this.askCancel(false);
      this.cancelButton.focus();
    });
    return h("span", { class: "confirm-cancel", role: "group", hidden: true }, h("span", {}, "Cancel this task?"), yes, no);
  }

  private askCancel(asking: boolean): void {
    this.cancelConfirm.hidden = !asking;
    this.cancelButton.hidden = asking || isTerminal(this.entry.task.status);
    if (asking) (this.cancelConfirm.querySelector(".confirm-no") as HTMLButtonElement | null)?.focus();
  }

  /** A finished task's result (succeeded) or failure details (failed), on demand. */
  private drawOutcome(t: Task): void {
    const text = t.status === TaskStatus.SUCCEEDED ? jsonText(t.result) : t.status === TaskStatus.FAILED ? jsonText(t.errorDetails) : "";
    this.outcome.hidden = text === "";
    setText(this.outcomeSummary, t.status === TaskStatus.FAILED ? "Failure details" : "Result");
    setText(this.outcomePre, text);
  }

  private tickWhileStalled(stalled: boolean): void {
    if (!stalled) {
      clearInterval(this.stallTimer);
      this.stallTimer = undefined;
    } else if (this.stallTimer === undefined) {
      this.stallTimer = setInterval(() => {
        if (this.el.isConnected) this.update(this.entry);
        else this.tickWhileStalled(false);
      }, 1000);
    }
  }

  /** Shows how the task's latest confirmation ended (from its confirmation_resolved event). */
  showOutcome(c: Confirmation): void {
    const text = outcomeText(c);
    setText(this.answered, text);
    this.answered.hidden = text === "";
  }

  /** Shows a failed action (e.g. cancel refused) on the card itself. */
  showError(message: string): void {
    setText(this.errorLine, message);
    this.errorLine.hidden = false;
    this.errorLine.setAttribute("role", "alert");
  }

  /** Disables the cancel button while its call runs. */
  setBusy(busy: boolean): void {
    this.cancelButton.disabled = busy;
  }

  /** The element focus returns to after the dialog for this task closes. */
  focusTarget(): HTMLElement {
    return this.waiting.hidden ? this.title : this.answerButton;
  }

  private drawTimes(t: Task): void {
    const rows: [string, ReturnType<typeof formatTime>][] = [
      ["Created", formatTime(t.createTime)],
      ["Updated", formatTime(t.updateTime)],
      ["Ended", formatTime(t.endTime)],
    ];
    const signature = rows.map(([, v]) => v?.iso ?? "").join("|");
    if (this.times.dataset["sig"] === signature) return;
    this.times.dataset["sig"] = signature;
    this.times.replaceChildren();
    for (const [name, value] of rows) {
      if (value === undefined) continue;
      this.times.append(
        h("dt", {}, name),
        h("dd", {}, h("time", { datetime: value.iso }, value.text)),
      );
    }
  }
}

/** An id fragment safe for id/aria attributes (task ids may contain ':' '@' '.'). */
export function cssId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}
