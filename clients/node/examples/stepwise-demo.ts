// The page's "Stepwise Progress In A Demo Task": ten steps, each a persisted milestone whose
// label says what the task does now. runBackground creates the task, runs the job and
// completes the task with what the job returns.
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../src/index.js";
import { runAsScript, stepDelayMs } from "./run.js";

/** Runs the demo as a task of `owner`; resolves with the task id once it succeeded. */
export async function runDemoTask(client: Client, owner: string, delayMs = 1500): Promise<string> {
  const run = await client.tasks.runBackground(
    async (task) => {
      const steps = 10;
      for (let i = 1; i <= steps; i++) {
        await sleep(delayMs, undefined, { signal: task.signal });
        await client.tasks.updateProgress(task.id, i / steps, { label: `Processing step ${i}/${steps}...` });
      }
      return { steps };
    },
    { owner, label: "Demo task", kind: "demo" },
  );
  const task = await run.done;
  return `task ${task.id} ${task.status}`;
}

runAsScript(import.meta.url, (client, owner) => runDemoTask(client, owner, stepDelayMs()));
