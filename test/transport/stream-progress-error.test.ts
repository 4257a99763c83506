import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startTestApp, type TestApp } from "../support/app.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
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

  it("a program reads the counts from ErrorInfo's metadata and the field from BadRequest", async () => {
    const client = createClient(TaskControlService, createGrpcTransport({ baseUrl: `http://${t.app.httpAddress}` }));
    const { task } = await client.createTask({ owner: "o", kind: "k" });
    const taskId = task!.id;
    async function* messages() {
      yield { message: { case: "update" as const, value: { taskId, progress: 0.2 } } };
      yield { message: { case: "emit" as const, value: { taskId } } };
      yield { message: { case: "update" as const, value: { taskId, progress: Number.NaN } } };
    }
    const err = await client.streamProgress(messages()).then(
      () => assert.fail("the stream succeeded"),
      (e: unknown) => ConnectError.from(e),
    );
    const [info] = err.findDetails(ErrorInfoSchema);
    assert.deepEqual({ ...info?.metadata }, { invalid_index: "2", committed: "1", emitted: "1", not_found: "0", not_applied: "0" });
    assert.deepEqual(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field), ["messages[2].progress"]);
  });
});
