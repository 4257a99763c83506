import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { startTestApp, type TestApp } from "../support/app.js";
import { REPLACE_SURFACE } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * The main flows again through connect's clients on the HTTP listener: the Connect protocol
 * over HTTP/1.1 (what browsers use) and gRPC-Web. Same ServiceImpl, other adapter.
 */

const leaks = trackLeaks();
let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await leaks.check();
});

describe("Connect protocol over HTTP/1.1", () => {
  it("drives a task through progress, a confirmation and completion while a watcher sees it", async () => {
    const c = t.connect;
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of c.watchTasks({ owner: "web", includeSnapshot: true }, { signal: abort.signal })) {
        seen.push(e.event.case === "progress" ? `progress:${e.event.value.persisted}` : String(e.event.case));
      }
    })().catch((err) => {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    });
    const { task } = await c.createTask({ owner: "web", kind: "import", label: "Importing" });
    assert.equal(task!.status, TaskStatus.RUNNING);
    const up = await c.updateProgress({ taskId: task!.id, progress: 0.55, checkpoint: { phase: "conflict_detected" }, label: "Conflict detected" });
    assert.deepEqual([up.found, up.applied], [true, true]);
    const em = await c.emitProgress({ taskId: task!.id, label: "rows 500/2000" });
    assert.equal(em.found, true);

    const held = c.requestConfirmation({ taskId: task!.id, title: "Duplicate keys", components: REPLACE_SURFACE as never });
    const it = held[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value.event.case, "pending");
    const cid = first.value.event.value.confirmation.id as string;
    assert.equal((await c.getTask({ taskId: task!.id })).task!.status, TaskStatus.WAITING_CONFIRMATION);
    const bad = await c.resolveConfirmation({ confirmationId: cid, action: "nope" }).catch((e) => ConnectError.from(e));
    assert.equal((bad as ConnectError).code, Code.InvalidArgument);
    await c.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" });
    const second = await it.next();
    assert.equal(second.value.event.case, "resolved");
    assert.equal(second.value.event.value.outcome, ConfirmationState.ANSWERED);
    assert.equal((await it.next()).done, true);

    const done = await c.completeTask({ taskId: task!.id, result: { rows: 2000 } });
    assert.equal(done.task!.status, TaskStatus.SUCCEEDED);
    // A repeat with no result is a safe retry (OK, the task as it is); another result is refused.
    assert.equal((await c.completeTask({ taskId: task!.id })).task!.revision, done.task!.revision);
    const again = await c.completeTask({ taskId: task!.id, result: { rows: 1 } }).catch((e) => ConnectError.from(e));
    assert.equal((again as ConnectError).code, Code.FailedPrecondition);
    const missing = await c.getTask({ taskId: "t-missing" }).catch((e) => ConnectError.from(e));
    assert.equal((missing as ConnectError).code, Code.NotFound);

    const deadline = Date.now() + 5000;
    while (!seen.includes("statusChanged") || seen.filter((s) => s === "statusChanged").length < 3) {
      assert.ok(Date.now() < deadline, `watcher saw ${seen.join(",")}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    abort.abort();
    await watching;
    assert.deepEqual(seen, [
      "snapshotEnd",
      "taskCreated",
      "progress:true",
      "progress:false",
      "confirmationRequested",
      "statusChanged",
      "confirmationResolved",
      "statusChanged",
      "statusChanged",
    ]);
    const list = await c.listTasks({ owner: "web" });
    assert.deepEqual(list.tasks.map((x) => x.id), [task!.id]);
  });

  it("answers bad input with clear codes (NaN progress, unknown ids)", async () => {
    const { task } = await t.connect.createTask({ owner: "web2" });
    const nan = await t.connect.updateProgress({ taskId: task!.id, progress: NaN }).catch((e) => ConnectError.from(e));
    assert.equal((nan as ConnectError).code, Code.InvalidArgument);
    const unknown = await t.connect.updateProgress({ taskId: "t-nope", progress: 0.5 });
    assert.equal(unknown.found, false);
    assert.equal((await t.connect.getTask({ taskId: task!.id })).task!.revision, 1n);
  });
});

describe("gRPC-Web", () => {
  it("serves unary calls and server streams", async () => {
    const c = createClient(TaskControlService, createGrpcWebTransport({ baseUrl: `http://${t.app.httpAddress}`, httpVersion: "1.1" }));
    const { task } = await c.createTask({ owner: "gw", label: "via grpc-web" });
    const abort = new AbortController();
    const events: string[] = [];
    for await (const e of c.watchTasks({ owner: "gw", includeSnapshot: true }, { signal: abort.signal })) {
      events.push(String(e.event.case));
      if (e.event.case === "snapshotEnd") break;
    }
    abort.abort();
    assert.deepEqual(events, ["snapshot", "snapshotEnd"]);
    assert.equal((await c.getTask({ taskId: task!.id })).task!.label, "via grpc-web");
  });
});
