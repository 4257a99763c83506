import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { createTask, holdConfirmation, REPLACE_SURFACE, watch } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import type { GetTaskResponse, UpdateProgressResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/** The reference page's own examples, as a worker and a UI would run them. */

const leaks = trackLeaks();
let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await leaks.check();
});

const view = async (id: string) => (await t.grpc.unary<GetTaskResponse>("GetTask", { taskId: id })).task!;

describe("the reference page's examples", () => {
  it("stepwise demo task: 10 monotone updates with labels, seen live", async () => {
    const task = await createTask(t.grpc, "demo");
    const ui = watch(t.grpc, { owner: "demo" });
    await new Promise((r) => setTimeout(r, 50));
    const steps = 10;
    for (let i = 1; i <= steps; i++) {
      await t.grpc.unary("UpdateProgress", { taskId: task.id, progress: i / steps, label: `Processing step ${i}/${steps}...` });
    }
    await ui.until((e) => e.length === steps);
    const seen = ui.events.map((e) => (e.event.case === "progress" ? [e.event.value.progress, e.event.value.label] : null));
    assert.deepEqual(
      seen,
      Array.from({ length: steps }, (_, i) => [(i + 1) / steps, `Processing step ${i + 1}/${steps}...`]),
    );
    const final = await view(task.id);
    assert.deepEqual([final.progress, final.label, final.revision], [1, "Processing step 10/10...", 11n]);
    ui.cancel();
  });

  it("installer: a milestone is persisted, live lines only refresh the UI", async () => {
    const task = await createTask(t.grpc, "installer");
    const ui = watch(t.grpc, { owner: "installer" });
    await new Promise((r) => setTimeout(r, 50));
    await t.grpc.unary("UpdateProgress", { taskId: task.id, progress: 0.6, label: "Installing engine dependencies" });
    for (const line of ["install: Collecting torch", "install: Collecting numpy", "install: Building wheel"]) {
      await t.grpc.unary("EmitProgress", { taskId: task.id, progress: 0.6, label: line });
    }
    await ui.until((e) => e.length === 4);
    assert.deepEqual(
      ui.events.map((e) => (e.event.case === "progress" ? e.event.value.persisted : null)),
      [true, false, false, false],
    );
    const stored = await view(task.id);
    assert.deepEqual([stored.label, stored.revision], ["Installing engine dependencies", 2n], "live lines never stored");
    ui.cancel();
  });

  it("checkpoint: structured state travels with the task and is visible through view", async () => {
    const task = await createTask(t.grpc, "archiver");
    const checkpoint = { phase: "download", downloaded_bytes: 4096, total_bytes: 10240 };
    await t.grpc.unary("UpdateProgress", { taskId: task.id, progress: 0.4, checkpoint, label: "Downloading source archive" });
    const stored = await view(task.id);
    assert.deepEqual(stored.checkpoint, checkpoint);
    assert.equal(stored.label, "Downloading source archive");
  });

  it("conflict → confirmation → resume, with progress before and after", async () => {
    const task = await createTask(t.grpc, "modeller");
    const ui = watch(t.grpc, { owner: "modeller" });
    await new Promise((r) => setTimeout(r, 50));
    await t.grpc.unary("UpdateProgress", {
      taskId: task.id,
      progress: 0.55,
      checkpoint: { phase: "conflict_detected" },
      label: "Conflict detected, waiting for confirmation",
    });
    const held = holdConfirmation(t.grpc, { taskId: task.id, title: "Model exists", components: REPLACE_SURFACE, requestId: "conflict-1" });
    // The UI gets backgroundTaskConfirmation and answers from its surface.
    await ui.until((e) => e.some((x) => x.event.case === "confirmationRequested"));
    const req = ui.events.find((x) => x.event.case === "confirmationRequested")!;
    const confirmation = req.event.case === "confirmationRequested" ? req.event.value.confirmation! : assert.fail();
    const replace = confirmation.components.find((c) => c.kind.case === "button" && c.kind.value.label === "Replace")!;
    const action = replace.kind.case === "button" ? replace.kind.value.action : "";
    assert.equal((await view(task.id)).status, TaskStatus.WAITING_CONFIRMATION, "the monitor stays truthful");
    await t.grpc.unary("ResolveConfirmation", { confirmationId: confirmation.id, action });
    await held.done;
    const decision = held.messages[1]!.event;
    assert.ok(decision.case === "resolved" && decision.value.action === "system.task.confirm_replace");
    const res = await t.grpc.unary<UpdateProgressResponse>("UpdateProgress", { taskId: task.id, progress: 0.65, label: "Replacing existing artifact" });
    assert.deepEqual([res.applied, res.status], [true, TaskStatus.RUNNING]);
    await t.grpc.unary("CompleteTask", { taskId: task.id });
    assert.equal((await view(task.id)).status, TaskStatus.SUCCEEDED);
    ui.cancel();
  });

  it("missing task: update and emit return without raising; confirmation is a contract error", async () => {
    const u = await t.grpc.unary<UpdateProgressResponse>("UpdateProgress", { taskId: "t-never-created", progress: 0.5 });
    assert.equal(u.found, false);
    const e = await t.grpc.unary("EmitProgress", { taskId: "t-never-created" });
    assert.equal(e.found, false);
    const held = holdConfirmation(t.grpc, { taskId: "t-never-created", title: "x", components: REPLACE_SURFACE });
    await assert.rejects(held.done, (err: { code: number }) => err.code === 5);
  });
});
