import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { httpClients, type HttpClients, invoke } from "../security/helpers.js";

/**
 * A StreamProgress ended by an invalid message says which message it was and how many
 * before it were committed, so a worker knows where to resume without re-reading the task.
 */

let t: TestApp;
let http: HttpClients;
before(async () => {
  t = await startTestApp();
  http = httpClients(t.app.httpAddress);
});
after(async () => t.close());

describe("StreamProgress ended by an invalid message", () => {
  for (const listener of ["grpc", "http"] as const) {
    it(`${listener}: INVALID_ARGUMENT names the message and how many before it were committed`, async () => {
      const created: any = await t.grpc.unary("CreateTask", { owner: "o", kind: "k" });
      const taskId = created.task.id;
      const messages = [
        ...[0.1, 0.2, 0.3, 0.4].map((progress) => ({ message: { case: "update", value: { taskId, progress } } })),
        { message: { case: "emit", value: { taskId, progress: 0.45 } } },
        { message: { case: "update", value: { taskId: "t-unknown", progress: 0.5 } } },
        { message: { case: "update", value: { taskId, progress: Number.NaN } } },
        { message: { case: "update", value: { taskId, progress: 0.9 } } },
      ];
      const out = await invoke(t, http, listener, "StreamProgress", messages);
      assert.equal(out.code, 3, out.message);
      assert.match(out.message, /^messages\[6\]\.progress: /);
      assert.match(out.message, /the 6 messages before it were applied: 4 updates committed, 1 emitted, 1 for an unknown task, 0 on an ended task/);
      const task: any = await t.grpc.unary("GetTask", { taskId });
      assert.equal(task.task.progress, 0.4, "the updates before the bad message are committed, the one after is not");
    });
  }
});
