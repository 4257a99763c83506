// Testing a worker that asks for a confirmation: the real server in process
// (startTestServer), the test answers in the place of the user.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { nextConfirmation, startTestServer, type TestServer } from "../src/testing.js";
import { replaceModel } from "./conflict-confirmation.js";

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

test("the worker replaces the model once the user says so", async () => {
  const run = await replaceModel(server.connect(), "alice");

  const user = server.connect();
  const asked = await nextConfirmation(user, { taskId: run.id });
  assert.equal(asked.title, "Model already installed");
  assert.equal((await user.tasks.view(run.id)).status, "waiting_confirmation");
  await user.resolveConfirmation(asked.id, { action: "system.task.confirm_replace" });

  const task = await run.done;
  assert.equal(task.status, "succeeded");
  assert.equal(task.label, "Replacing existing artifact");
  assert.deepEqual(task.result, { replaced: true });
});

test("the worker keeps the model when the user cancels the dialog", async () => {
  const run = await replaceModel(server.connect(), "alice");
  const user = server.connect();
  const asked = await nextConfirmation(user, { taskId: run.id });
  await user.resolveConfirmation(asked.id, { action: "system.task.confirm_cancel" });
  const task = await run.done;
  assert.deepEqual([task.status, task.progress, task.result], ["succeeded", 1, { replaced: false }]);
  assert.deepEqual(task.checkpoint, { phase: "conflict_detected" });
});
