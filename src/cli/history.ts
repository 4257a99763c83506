// `taskctl history <task-id>`: the task's persisted history (ListTaskEvents, every page),
// one line per event, oldest first: milestones, decisions (who answered what) and status
// changes; with --json one WatchTasksResponse per line.
import { WatchTasksResponseSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { readTaskHistory, timelineLines } from "../client/decisions.js";
import type { TaskControlClient } from "./client.js";
import { EXIT, println, type CliIo } from "./io.js";
import { jsonLine } from "./render.js";

/** What `taskctl history` needs (a command of its own: no argument parsing here). */
export interface HistoryCommand {
  readonly client: TaskControlClient;
  readonly io: CliIo;
  readonly json: boolean;
  readonly taskId: string;
}

/** Prints the task's history; a task the caller may not see fails as NOT_FOUND. */
export async function runHistory(cmd: HistoryCommand): Promise<number> {
  const events = await readTaskHistory(cmd.client, cmd.taskId);
  if (cmd.json) {
    for (const e of events) println(cmd.io.stdout, jsonLine(WatchTasksResponseSchema, e));
    return EXIT.ok;
  }
  for (const line of timelineLines(events)) {
    println(cmd.io.stdout, `${String(line.sequence).padStart(8)}  ${line.time?.toISOString() ?? ""}  ${line.text}`);
  }
  return EXIT.ok;
}
