// The Node SDK README's examples, run against the real server with a watcher checking what
// the UI sees; one of them as the script the README's command runs; the worked test example
// itself; and the README (and the Python testing page) showing exactly these files.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import type { WatchTasksResponse } from "../../clients/node/src/index.js";
import { nextConfirmation } from "../../clients/node/src/testing.js";
import { DOCUMENTS, includedPaths, rendered } from "../../clients/node/scripts/readme.js";
import { replaceModel } from "../../clients/node/examples/conflict-confirmation.js";
import { INSTALL_LINES, installEngine } from "../../clients/node/examples/installer.js";
import { runDemoTask } from "../../clients/node/examples/stepwise-demo.js";
import { sharedServer } from "./shared-server.js";
import { ROOT } from "../support/server-process.js";
// The README's worked example of testing a worker: its tests run as part of this file.
import "../../clients/node/examples/conflict-confirmation.test.js";

const shared = sharedServer();

/** Every event of `owner`'s tasks while `act` runs, until the task `act` resolves with ended. */
async function watched(owner: string, act: () => Promise<string>): Promise<{ taskId: string; events: WatchTasksResponse[] }> {
  const events: WatchTasksResponse[] = [];
  const ac = new AbortController();
  const stream = shared.client.watch({ owner, includeSnapshot: true, signal: ac.signal })[Symbol.asyncIterator]();
  while ((await stream.next()).value?.event.case !== "snapshotEnd");
  const taskId = await act();
  for (;;) {
    const { value, done } = await stream.next();
    if (done) break;
    events.push(value);
    if (value.event.case === "statusChanged" && value.event.value.task?.id === taskId && value.event.value.task.endTime) break;
  }
  ac.abort();
  await stream.return?.();
  return { taskId, events };
}

const progress = (events: WatchTasksResponse[]) =>
  events.flatMap((e) => (e.event.case === "progress" ? [{ persisted: e.event.value.persisted, progress: e.event.value.progress, label: e.event.value.label }] : []));

describe("Node SDK README examples", { timeout: 60_000 }, () => {
  it("installer: one persisted milestone, the console lines live only, then installed", async () => {
    const { taskId, events } = await watched("ex-installer", () => installEngine(shared.client, "ex-installer"));
    assert.deepEqual(progress(events), [
      { persisted: true, progress: 0.6, label: "Installing engine dependencies" },
      ...INSTALL_LINES.map((line) => ({ persisted: false, progress: 0.6, label: `install: ${line}` })),
      { persisted: true, progress: 1, label: "installed" },
    ]);
    const task = await shared.client.tasks.view(taskId);
    assert.deepEqual([task.status, task.label], ["succeeded", "installed"]);
  });

  it("stepwise demo: ten persisted steps, each label saying which", async () => {
    let id = "";
    const { events } = await watched("ex-demo", async () => {
      const line = await runDemoTask(shared.client, "ex-demo", 1);
      id = line.split(" ")[1]!;
      assert.equal(line, `task ${id} succeeded`);
      return id;
    });
    assert.deepEqual(
      progress(events),
      Array.from({ length: 10 }, (_, i) => ({ persisted: true, progress: (i + 1) / 10, label: `Processing step ${i + 1}/10...` })),
    );
    assert.deepEqual((await shared.client.tasks.view(id)).result, { steps: 10 });
  });

  it("conflict: progress before, the confirmation, the answer, progress after", async () => {
    const { taskId, events } = await watched("ex-conflict", async () => {
      const run = await replaceModel(shared.client, "ex-conflict");
      const asked = await nextConfirmation(shared.client, { taskId: run.id });
      await shared.client.resolveConfirmation(asked.id, { action: "system.task.confirm_replace" });
      await run.done;
      return run.id;
    });
    const kinds = events.map((e) => e.event.case);
    assert.deepEqual(kinds.slice(0, 3), ["taskCreated", "progress", "confirmationRequested"]);
    assert.ok(kinds.indexOf("confirmationResolved") < kinds.lastIndexOf("progress"), kinds.join());
    assert.deepEqual(progress(events).map((p) => [p.progress, p.label]), [
      [0.55, "Conflict detected, waiting for confirmation"],
      [0.65, "Replacing existing artifact"],
    ]);
    assert.deepEqual((await shared.client.tasks.view(taskId)).result, { replaced: true });
  });

  it("the README's command runs the demo as a script", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "clients/node/examples/stepwise-demo.ts", shared.server.address],
      { cwd: ROOT, env: { ...process.env, TASKCONTROL_OWNER: "ex-script", TASKCONTROL_EXAMPLE_DELAY: "0" } },
    );
    assert.match(stdout.trim(), /^task t-\S+ succeeded$/);
    const [task] = await shared.client.tasks.list({ owner: "ex-script" });
    assert.deepEqual([task?.status, task?.label, task?.result], ["succeeded", "Processing step 10/10...", { steps: 10 }]);
  });

  it("the READMEs show the example files as they are", () => {
    for (const document of DOCUMENTS) {
      const doc = rendered(document);
      assert.ok(includedPaths(doc.current).length > 0, `${document} includes no example`);
      assert.equal(doc.current, doc.rendered, `${document} differs from its examples: node --import tsx clients/node/scripts/readme.ts`);
    }
  });
});
