// A card's history on demand: a <details> that reads the task's persisted events
// (ListTaskEvents) when it is opened and lists them, one line each (src/client/decisions.ts).
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { hoursMinutes, timelineLines } from "../../src/client/decisions.js";
import { h, setText } from "./dom.js";

/** Reads a task's history (every page); rejects with a message to show. */
export type HistoryFn = () => Promise<WatchTasksResponse[]>;

/** The "History" disclosure of one card; reloads each time it is opened. */
export class TaskTimeline {
  /** The element placed in the card. */
  readonly el: HTMLDetailsElement;
  private readonly list: HTMLOListElement;
  private readonly status: HTMLParagraphElement;

  constructor(load: HistoryFn) {
    this.list = h("ol", { class: "timeline-lines", "data-role": "timeline" });
    this.status = h("p", { class: "timeline-status", role: "status" });
    this.el = h("details", { class: "timeline" }, h("summary", {}, "History"), this.status, this.list);
    this.el.addEventListener("toggle", () => {
      if (this.el.open) void this.reload(load);
    });
  }

  private async reload(load: HistoryFn): Promise<void> {
    setText(this.status, "Loading…");
    try {
      const lines = timelineLines(await load());
      this.list.replaceChildren(
        ...lines.map((l) =>
          h(
            "li",
            { "data-sequence": String(l.sequence) },
            ...(l.time === undefined ? [] : [h("time", { datetime: l.time.toISOString() }, hoursMinutes(l.time)), " "]),
            l.text,
          ),
        ),
      );
      setText(this.status, lines.length === 0 ? "No history retained." : "");
    } catch (err) {
      setText(this.status, `Could not load the history: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
