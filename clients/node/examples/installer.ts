// The page's "Live Installer Output": the milestone is recorded (updateProgress), the
// console lines only refresh the UI (emitProgress: pushed live, never stored).
import type { Client } from "../src/index.js";
import { runAsScript } from "./run.js";

/** What pip prints while the engine's dependencies install. */
export const INSTALL_LINES = ["Collecting torch", "Downloading torch-2.4.0.whl (797 MB)", "Installing collected packages: torch"];

/** Installs the engine as a task of `owner`; resolves with the task id. */
export async function installEngine(client: Client, owner: string): Promise<string> {
  const taskId = await client.tasks.create({ owner, label: "Installing engine", kind: "engine.install" });
  await client.tasks.updateProgress(taskId, 0.6, { label: "Installing engine dependencies" });
  for (const line of INSTALL_LINES) {
    await client.tasks.emitProgress(taskId, 0.6, { label: `install: ${line}` });
  }
  await client.tasks.updateProgress(taskId, 1.0, { label: "installed" });
  await client.tasks.complete(taskId);
  return taskId;
}

runAsScript(import.meta.url, async (client, owner) => `task ${await installEngine(client, owner)} installed`);
