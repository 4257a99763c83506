// The page's "Progress Before And After Confirmation": record that a conflict was found,
// ask the user, then resume and say what happens next. The task waits meanwhile
// (waiting_confirmation), so the monitor shows it is paused on purpose.
import type { BackgroundTask, Client } from "../src/index.js";
import { runAsScript } from "./run.js";

/** Installs a model that already exists, asking `owner` whether to replace it. */
export function replaceModel(client: Client, owner: string): Promise<BackgroundTask> {
  return client.tasks.runBackground(
    async (task) => {
      await client.tasks.updateProgress(task.id, 0.55, {
        checkpoint: { phase: "conflict_detected" },
        label: "Conflict detected, waiting for confirmation",
      });
      const builder = new client.ui.Builder({ title: "Model already installed" });
      builder.add(client.ui.Text("confirm_text", "A model with the same name already exists. Replace it?"));
      builder.add(client.ui.Button("confirm_replace", { label: "Replace", action: "system.task.confirm_replace", style: "danger" }));
      builder.add(client.ui.Button("confirm_cancel", { label: "Cancel", action: "system.task.confirm_cancel" }));

      const decision = await client.tasks.requestConfirmation(task.id, builder);
      const replace = decision.ok && decision.action === "system.task.confirm_replace";
      if (replace) {
        await client.tasks.updateProgress(task.id, 0.65, { label: "Replacing existing artifact" });
      }
      return { replaced: replace };
    },
    { owner, label: "Installing model", kind: "model.install" },
  );
}

runAsScript(import.meta.url, async (client, owner) => {
  const run = await replaceModel(client, owner);
  console.log(`task ${run.id} is waiting for ${owner}'s answer (the monitor, or taskctl watch)`);
  const task = await run.done;
  return `task ${task.id} ${task.status}: ${JSON.stringify(task.result)}`;
});
