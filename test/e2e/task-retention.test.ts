// The retention sweep in a running server: a finished task older than
// --task-retention-age-ms leaves the database at the next --retention-interval-ms tick and is
// NOT_FOUND from then on; a running task of the same age stays.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import { committedRow } from "../support/committed.js";
import { createTask } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";

const leaks = trackLeaks();
let t: TestApp;
before(async () => {
  t = await startTestApp({ args: ["--task-retention-age-ms", "300", "--retention-interval-ms", "50"] });
});
after(async () => {
  await t.close();
  await leaks.check();
});

it("purges a finished task past the age at the next sweep: GetTask and CancelTask answer NOT_FOUND", async () => {
  const done = await createTask(t.grpc, "retention");
  const running = await createTask(t.grpc, "retention");
  await t.grpc.unary("CompleteTask", { taskId: done.id });
  assert.ok(await committedRow(t.db, "tasks", done.id), "committed first");
  const deadline = Date.now() + 10_000;
  while ((await committedRow(t.db, "tasks", done.id)) !== undefined) {
    assert.ok(Date.now() < deadline, "the sweep never purged the finished task");
    await sleep(50);
  }
  const notFound = (err: { code: number }) => err.code === status.NOT_FOUND;
  await assert.rejects(t.grpc.unary("GetTask", { taskId: done.id }), notFound);
  await assert.rejects(t.grpc.unary("CancelTask", { taskId: done.id }), notFound);
  assert.ok(await committedRow(t.db, "tasks", running.id), "an unfinished task stays, however old");
  assert.equal((await t.grpc.unary("UpdateProgress", { taskId: done.id, progress: 0.5 })).found, false);
});
