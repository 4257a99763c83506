// `taskctl demo`: the reference page's demo background task, run as a worker against a real
// server — ten persisted steps "Processing step i/10...", a live line per step, then a
// conflict that waits for the user's confirmation (Replace / Cancel), then completion.
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  ComponentSchema,
  Component_Style,
  ConfirmationState,
  TaskStatus,
  type Component,
  type Task,
} from "../../gen/taskcontrol/v1/task_pb.js";
import type { RequestConfirmationResponse_Resolved } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { backoffDelay } from "../shared/backoff.js";
import type { TaskControlClient } from "./client.js";
import { EXIT, println, type CliIo } from "./io.js";
import { confirmHint, progressBar, taskJson } from "./render.js";
import { percent } from "../client/task-state.js";

/** What `taskctl demo` needs. */
export interface DemoCommand {
  /** Client to the gRPC listener (the demo acts as a worker). */
  readonly client: TaskControlClient;
  /** Streams and stop signal. */
  readonly io: CliIo;
  /** One JSON object per line: {"event": ...}. */
  readonly json: boolean;
  /** The task's owner (who sees it in the monitor). */
  readonly owner: string;
  /** Pause before each step, in milliseconds. @default 1500 (the reference's asyncio.sleep(1.5)) */
  readonly stepMs: number;
}

/** Steps of the demo, as in the reference's `_run_demo_task`. */
export const DEMO_STEPS = 10;

/** The conflict surface: a text and the Replace / Cancel buttons (the reference's Builder). */
export function conflictComponents(): Component[] {
  return [
    create(ComponentSchema, {
      id: "confirm_text",
      kind: { case: "text", value: { text: "A result with the same name already exists. Replace it?" } },
    }),
    create(ComponentSchema, {
      id: "confirm_replace",
      kind: { case: "button", value: { label: "Replace", action: "replace", style: Component_Style.PRIMARY } },
    }),
    create(ComponentSchema, {
      id: "confirm_cancel",
      kind: { case: "button", value: { label: "Cancel", action: "cancel", style: Component_Style.SECONDARY } },
    }),
  ];
}

class Cancelled extends Error {}

/** Runs the demo task to its end; resolves to the exit status. */
export async function runDemo(cmd: DemoCommand): Promise<number> {
  const { client, io } = cmd;
  const emit = (event: string, fields: Record<string, unknown>, text: string): void => {
    println(io.stdout, cmd.json ? JSON.stringify({ event, ...fields }) : text);
  };
  const created = await client.createTask({ owner: cmd.owner, kind: "demo", label: "Starting demo task" });
  const task = created.task;
  if (task === undefined) throw new Error("the server returned no task");
  emit("created", { task: JSON.parse(taskJson(task)) }, `task ${task.id} created for ${task.owner}`);

  try {
    for (let i = 1; i <= DEMO_STEPS; i += 1) {
      await sleep(cmd.stepMs, undefined, { signal: io.signal });
      const progress = i / DEMO_STEPS;
      const label = `Processing step ${i}/${DEMO_STEPS}...`;
      const res = await client.updateProgress({ taskId: task.id, progress, label, checkpoint: { step: i, steps: DEMO_STEPS } });
      if (res.cancelRequested || !res.applied) throw new Cancelled();
      await client.emitProgress({ taskId: task.id, label: `demo: finished step ${i} of ${DEMO_STEPS}` });
      emit("progress", { taskId: task.id, step: i, progress, label }, `${progressBar(progress)} ${String(percent(progress)).padStart(3)}%  ${label}`);
    }
    const conflict = await client.updateProgress({
      taskId: task.id,
      progress: 1,
      label: "Conflict detected, waiting for confirmation",
      checkpoint: { phase: "conflict_detected" },
    });
    if (conflict.cancelRequested || !conflict.applied) throw new Cancelled();

    const answer = await waitForAnswer(cmd, task, (confirmationId) => {
      emit(
        "confirmation",
        { taskId: task.id, confirmationId },
        `confirmation ${confirmationId} is waiting for ${cmd.owner}: answer in the monitor or with\n  ${confirmHint(confirmationId, ["replace", "cancel"])}`,
      );
    });
    emit(
      "resolved",
      {
        taskId: task.id,
        confirmationId: answer.confirmationId,
        outcome: ConfirmationState[answer.outcome],
        action: answer.action,
        values: answer.values ?? {},
      },
      `answer: ${answer.action || ConfirmationState[answer.outcome].toLowerCase()}`,
    );
    if (answer.outcome !== ConfirmationState.ANSWERED || answer.cancelRequested) throw new Cancelled();

    const replace = answer.action === "replace";
    await client.updateProgress({
      taskId: task.id,
      progress: 1,
      label: replace ? "Replacing the existing result" : "Keeping the existing result",
    });
    const result: JsonObject = { decision: replace ? "replaced" : "kept", steps: DEMO_STEPS };
    const done = await client.completeTask({ taskId: task.id, result });
    emit("completed", { task: done.task === undefined ? null : JSON.parse(taskJson(done.task)) }, `task ${task.id} succeeded (${result["decision"]})`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof Cancelled) {
      emit("cancelled", { taskId: task.id }, `task ${task.id} was cancelled by its user`);
      return EXIT.cancelled;
    }
    if (io.signal.aborted) {
      // Leave no task running forever behind an interrupted demo.
      await client.failTask({ taskId: task.id, errorMessage: "taskctl demo was interrupted" }).catch(() => undefined);
      emit("interrupted", { taskId: task.id }, `task ${task.id} failed: interrupted`);
      return EXIT.interrupted;
    }
    throw err;
  }
}

/**
 * Holds RequestConfirmation open until it resolves. If the call drops (server restart),
 * calls again with the same request_id to re-attach, as DESIGN.md's durable wait allows.
 */
async function waitForAnswer(
  cmd: DemoCommand,
  task: Task,
  onPending: (confirmationId: string) => void,
): Promise<RequestConfirmationResponse_Resolved> {
  const requestId = `taskctl-demo-${task.id}`;
  let announced = "";
  for (let attempt = 0; ; attempt += 1) {
    try {
      const stream = cmd.client.requestConfirmation(
        {
          taskId: task.id,
          title: "Replace the existing result?",
          components: conflictComponents(),
          requestId,
        },
        { signal: cmd.io.signal },
      );
      for await (const msg of stream) {
        if (msg.event.case === "pending") {
          const id = msg.event.value.confirmation?.id ?? "";
          if (id !== announced) {
            announced = id;
            onPending(id);
          }
          attempt = 0;
        } else if (msg.event.case === "resolved") {
          return msg.event.value;
        }
      }
      throw new ConnectError("the confirmation stream ended without an answer", Code.Unavailable);
    } catch (err) {
      const ce = ConnectError.from(err);
      if (cmd.io.signal.aborted) throw err;
      if (ce.code === Code.FailedPrecondition) {
        // The task ended (e.g. cancelled) while we were away.
        const now = await cmd.client.getTask({ taskId: task.id }).catch(() => undefined);
        if (now?.task?.status === TaskStatus.CANCELLED) throw new Cancelled();
        throw err;
      }
      if (ce.code !== Code.Unavailable && ce.code !== Code.Internal && ce.code !== Code.Unknown) throw err;
      if (attempt >= 60) throw err;
      println(cmd.io.stderr, `taskctl: confirmation call dropped (${ce.rawMessage}); re-attaching`);
      await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 5000 }), undefined, { signal: cmd.io.signal });
    }
  }
}
