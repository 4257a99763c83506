// `taskctl watch`: live progress bars redrawn in place on a TTY (one line per task, with the
// latest live line), a prompt to answer a pending confirmation in place, plain lines when
// piped, and one JSON event per line with --json.
import { createInterface, type Interface } from "node:readline/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { WatchTasksResponseSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus, type Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";
import { answerersText } from "../client/decisions.js";
import { errorReason, fieldViolations } from "../client/error-details.js";
import { failureText, type TaskControlClient } from "./client.js";
import { EXIT, println, type CliIo } from "./io.js";
import { promptInputs, reaskFields } from "./prompts.js";
import { actionsOf, confirmHint, jsonLine, taskLine, watchLayout } from "./render.js";
import { isTerminal, percent, statusText, TaskState, type TaskChange } from "../client/task-state.js";
import { startWatchLoop, type WatchState } from "../client/watch-loop.js";

/** What `taskctl watch` needs. */
export interface WatchCommand {
  /** Client to the gRPC listener. */
  readonly client: TaskControlClient;
  /** Streams and stop signal. */
  readonly io: CliIo;
  /** One JSON event per line instead of bars. */
  readonly json: boolean;
  /** WatchTasksRequest.owner. */
  readonly owner: string;
  /** Only these tasks; the command ends once all of them ended. */
  readonly taskIds: readonly string[];
  /**
   * On a terminal, how long a finished task stays on screen, in ms (named --task tasks stay).
   * @default 10000
   */
  readonly keepFinishedMs?: number;
}

const ESC = "\u001b[";

/** Runs the watch until interrupted (or, with --task, until every named task ended). */
export async function runWatch(cmd: WatchCommand): Promise<number> {
  const { io, client } = cmd;
  const tty = !cmd.json && io.stdout.isTTY === true;
  const interactive = tty && io.stdin.isTTY === true;
  const state = new TaskState();
  const dismissed = new Set<string>();
  let drawnLines = 0;
  let drawTimer: ReturnType<typeof setTimeout> | undefined;
  let status = "connecting…";
  let prompting: { confirmationId: string; abort: AbortController } | undefined;
  let rl: Interface | undefined;
  const finished = new AbortController();
  let interrupted = false; // Ctrl-C read by readline (raw mode) rather than delivered as SIGINT
  const onAbort = (): void => finished.abort();
  io.signal.addEventListener("abort", onAbort, { once: true });

  const columns = (): number => Math.max(40, (io.stdout.columns ?? 100) - 1);
  const keepFinishedMs = cmd.keepFinishedMs ?? 10_000;
  /** When each finished task was first drawn finished; it leaves the screen keepFinishedMs later. */
  const finishedAt = new Map<string, number>();
  let expiryTimer: ReturnType<typeof setTimeout> | undefined;

  /** The tasks to draw: finished ones only for a while (named ones always); forgets the rest. */
  const shown = (): ReturnType<TaskState["sorted"]> => {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const out = state.sorted().filter((e) => {
      if (!isTerminal(e.task.status) || cmd.taskIds.length > 0) return true;
      const at = finishedAt.get(e.task.id) ?? now;
      finishedAt.set(e.task.id, at);
      if (now - at < keepFinishedMs) {
        next = Math.min(next, at + keepFinishedMs);
        return true;
      }
      state.entries.delete(e.task.id);
      finishedAt.delete(e.task.id);
      return false;
    });
    if (expiryTimer === undefined && next !== Number.POSITIVE_INFINITY) {
      expiryTimer = setTimeout(() => {
        expiryTimer = undefined;
        scheduleDraw();
      }, next - now + 5);
    }
    return out;
  };

  const redraw = (): void => {
    drawTimer = undefined;
    if (!tty || prompting !== undefined) return;
    const entries = shown();
    const layout = watchLayout(entries, columns());
    const lines = [
      `taskctl watch${cmd.owner ? ` — ${cmd.owner}` : ""} — ${status} — ${entries.length} task${entries.length === 1 ? "" : "s"}`,
      ...entries.map((e) => taskLine(e, columns(), layout)),
    ];
    let out = drawnLines > 0 ? `${ESC}${drawnLines}F${ESC}0J` : "";
    out += lines.map((l) => `${l}\n`).join("");
    io.stdout.write(out);
    drawnLines = lines.length;
  };
  const scheduleDraw = (): void => {
    if (tty && drawTimer === undefined) drawTimer = setTimeout(redraw, 80);
  };

  const line = (text: string): void => {
    if (!tty) println(io.stdout, `${new Date().toISOString().slice(11, 19)}  ${text}`);
  };

  const checkDone = (): void => {
    if (cmd.taskIds.length === 0) return;
    const allEnded = cmd.taskIds.every((id) => {
      const e = state.entries.get(id);
      return e !== undefined && isTerminal(e.task.status);
    });
    if (allEnded) finished.abort();
  };

  const describeChange = (change: TaskChange): void => {
    if (change.kind === "none" || change.kind === "snapshotEnd" || change.kind === "unknownTask") return;
    const e = state.entries.get(change.taskId);
    if (e === undefined) return;
    const t = e.task;
    switch (change.kind) {
      case "upserted":
        line(`${t.id}  ${String(percent(t.progress)).padStart(3)}%  ${statusText(t.status)}  ${t.label}${t.errorMessage ? `  (${t.errorMessage})` : ""}`);
        break;
      case "progress":
        line(change.persisted ? `${t.id}  ${String(percent(e.shownProgress)).padStart(3)}%  ${t.label}` : `${t.id}  › ${e.liveLine}`);
        break;
      case "confirmationRequested":
        line(`${t.id}  waiting for you: ${change.confirmation.title}  — ${confirmHint(change.confirmation.id, actionsOf(change.confirmation.components))}`);
        break;
      case "confirmationResolved":
        line(`${t.id}  confirmation ${change.confirmation.id} ${change.confirmation.action ? `answered: ${change.confirmation.action}` : "ended"}`);
        break;
    }
  };

  const maybePrompt = (): void => {
    if (!interactive || prompting !== undefined || finished.signal.aborted) return;
    const next = state
      .sorted()
      .reverse()
      .find((e) => e.task.pendingConfirmation !== undefined && !dismissed.has(e.task.pendingConfirmation.id));
    const c = next?.task.pendingConfirmation;
    if (next === undefined || c === undefined) return;
    const abort = new AbortController();
    prompting = { confirmationId: c.id, abort };
    if (drawTimer !== undefined) clearTimeout(drawTimer);
    drawTimer = undefined;
    // The frame leaves while the prompt asks (it would otherwise stay above the prompt and be
    // drawn again below it); the prompt stays as a transcript, then one outcome line and the
    // frame, drawn once, below it.
    if (drawnLines > 0) io.stdout.write(`${ESC}${drawnLines}F${ESC}0J`);
    drawnLines = 0;
    void askInPlace(c, next.task.label || next.task.id, abort.signal).then(
      (outcome) => {
        if (outcome !== "") println(io.stdout, outcome);
      },
      () => {},
    ).finally(() => {
      prompting = undefined;
      drawnLines = 0;
      redraw();
      maybePrompt();
    });
  };

  // Draws the bars once more (even though a prompt is about to pause drawing).
  const redrawNow = (): void => {
    const p = prompting;
    prompting = undefined;
    redraw();
    prompting = p;
  };

  /** Asks for one confirmation; resolves to one line saying how it ended ("" when the watch ends). */
  async function askInPlace(c: Confirmation, label: string, signal: AbortSignal): Promise<string> {
    rl ??= createInterface({ input: io.stdin, output: io.stdout, terminal: true });
    rl.removeAllListeners("SIGINT");
    rl.on("SIGINT", () => {
      interrupted = true;
      finished.abort();
    });
    const say = (text: string): void => println(io.stdout, text);
    const ask = (q: string): Promise<string> => rl!.question(q, { signal });
    const title = `? ${c.title || "Confirmation"}  (task: ${label})`;
    try {
      say(title);
      for (const comp of c.components) if (comp.kind.case === "text") say(`  ${comp.kind.value.text}`);
      const who = answerersText(c);
      if (who !== "") say(`  ${who}`);
      const values: JsonObject = {};
      await promptInputs(c, ask, say, values);
      const buttons = c.components.flatMap((comp) => (comp.kind.case === "button" ? [comp.kind.value] : []));
      say(`  ${buttons.map((b, i) => `[${i + 1}] ${b.label || b.action}`).join("   ")}`);
      let chosen: string | undefined;
      for (;;) {
        const a = (await ask(`  Choose 1-${buttons.length} (Enter: decide later): `)).trim();
        if (a === "") break;
        chosen = buttons[Number(a) - 1]?.action;
        if (chosen !== undefined) break;
      }
      if (chosen === undefined) {
        dismissed.add(c.id);
        return `${title} — left open; answer later with: ${confirmHint(c.id, buttons.map((b) => b.action))}`;
      }
      for (;;) {
        try {
          await client.resolveConfirmation({ confirmationId: c.id, action: chosen, values });
          dismissed.add(c.id); // its confirmation_resolved event may still be on its way
          return `${title} — answered: ${chosen}`;
        } catch (err) {
          const ce = ConnectError.from(err);
          // The server refused some inputs (its patterns and bounds are the truth): say why
          // and ask for those again; the confirmation is still pending.
          const again = ce.code === Code.InvalidArgument ? reaskFields(c, fieldViolations(ce), say) : new Set<string>();
          if (again.size > 0) {
            await promptInputs(c, ask, say, values, again);
            continue;
          }
          const elsewhere = errorReason(ce) === "ALREADY_RESOLVED";
          if (!elsewhere) dismissed.add(c.id);
          return `${title} — ${elsewhere ? "already answered elsewhere" : `could not answer: ${failureText(ce, "")}`}`;
        }
      }
    } catch (err) {
      // The question was cut mid-line: the outcome starts on a line of its own.
      if (signal.aborted) return finished.signal.aborted ? "" : `\n${title} — answered elsewhere`;
      throw err;
    }
  }

  const onState = (s: WatchState): void => {
    switch (s.kind) {
      case "live":
        status = s.resumed ? "live (reconnected)" : "live";
        break;
      case "reconnecting":
        status = `reconnecting (attempt ${s.attempt}, ${Math.ceil(s.retryInMs / 1000)} s): ${s.reason}`;
        break;
      case "unauthenticated":
      case "denied":
        status = `${s.kind}: ${s.reason}`;
        println(io.stderr, `taskctl: ${s.kind === "denied" ? "PermissionDenied" : "Unauthenticated"}: ${s.reason} (pass --token or set TASKCONTROL_TOKEN)`);
        finished.abort(new Error(s.kind));
        break;
      default:
        status = s.kind === "connecting" ? "connecting…" : s.kind;
    }
    if (!tty && (s.kind === "reconnecting" || (s.kind === "live" && s.resumed))) println(io.stderr, `taskctl: ${status}`);
    scheduleDraw();
  };

  const loop = startWatchLoop({
    client,
    owner: cmd.owner,
    taskIds: cmd.taskIds,
    onResync: () => state.clear(),
    onState,
    onEvent: (event) => {
      if (cmd.json) println(io.stdout, jsonLine(WatchTasksResponseSchema, event));
      const change = state.apply(event);
      if (change.kind === "snapshotEnd") void loadNamed();
      if (!cmd.json) describeChange(change);
      if (change.kind === "confirmationResolved" && prompting?.confirmationId === change.confirmation.id) {
        prompting.abort.abort();
      }
      if (change.kind === "upserted" && prompting !== undefined) {
        const t = state.entries.get(change.taskId)?.task;
        if (t !== undefined && t.pendingConfirmation?.id !== prompting.confirmationId && t.status !== TaskStatus.WAITING_CONFIRMATION) {
          const pend = [...state.entries.values()].some((e) => e.task.pendingConfirmation?.id === prompting?.confirmationId);
          if (!pend) prompting.abort.abort();
        }
      }
      scheduleDraw();
      maybePrompt();
      checkDone();
    },
  });

  // The snapshot holds unfinished tasks only: named tasks that already ended are fetched.
  async function loadNamed(): Promise<void> {
    for (const id of cmd.taskIds) {
      if (state.entries.has(id)) continue;
      try {
        const res = await client.getTask({ taskId: id });
        if (res.task !== undefined) {
          const change = state.upsert(res.task, true);
          if (!cmd.json) describeChange(change);
        }
      } catch (err) {
        if (ConnectError.from(err).code === Code.NotFound) {
          println(io.stderr, `taskctl: task ${id} not found`);
          finished.abort(new Error("not found"));
          return;
        }
      }
    }
    scheduleDraw();
    checkDone();
  }

  await new Promise<void>((resolve) => {
    if (finished.signal.aborted) resolve();
    finished.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  loop.stop();
  prompting?.abort.abort();
  rl?.close();
  io.signal.removeEventListener("abort", onAbort);
  if (drawTimer !== undefined) clearTimeout(drawTimer);
  if (expiryTimer !== undefined) clearTimeout(expiryTimer);
  if (tty) {
    drawTimer = undefined;
    redrawNow();
  }
  const reason: unknown = finished.signal.reason;
  if (io.signal.aborted || interrupted) return EXIT.interrupted;
  if (reason instanceof Error && (reason.message === "not found" || reason.message === "unauthenticated" || reason.message === "denied")) {
    return EXIT.error;
  }
  return EXIT.ok;
}
