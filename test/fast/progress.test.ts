import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { collect, errorOf, type InProcessService, startInProcess } from "../support/in-process.js";
import { trackLeaks } from "../support/leaks.js";
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * UpdateProgress and EmitProgress as the seed page defines them, against the service in
 * process (router transport, SQLite in memory): what a worker and a watcher would see.
 */

const leaks = trackLeaks();
let s: InProcessService;
before(async () => {
  s = await startInProcess();
});
after(async () => {
  await s.close();
  await leaks.check();
});

const newTask = async (owner = "alice", label = "start") =>
  (await s.client.createTask({ owner, kind: "test", label })).task!;
const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;
const progressLines = (m: WatchTasksResponse[]) => m.flatMap((x) => (x.event.case === "progress" ? [x.event.value] : []));
/** A watch of `owner` that has passed its (empty) snapshot: everything after this is live. */
async function watching(owner: string) {
  const w = collect((signal) => s.client.watchTasks({ owner, includeSnapshot: true }, { signal }));
  await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
  return w;
}

describe("UpdateProgress", () => {
  it("clamps into [0, 1], infinities included, and refuses NaN naming the field", async () => {
    const task = await newTask();
    for (const [given, stored] of [[1.5, 1], [-0.25, 0], [Infinity, 1], [-Infinity, 0], [0.42, 0.42]] as const) {
      const res = await s.client.updateProgress({ taskId: task.id, progress: given });
      assert.deepEqual([res.found, res.applied], [true, true]);
      assert.equal((await get(task.id)).progress, stored, `progress ${given}`);
    }
    const nan = await errorOf(s.client.updateProgress({ taskId: task.id, progress: NaN }));
    assert.deepEqual([nan.code, nan.reason, nan.domain, nan.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", "taskcontrol", ["progress"]]);
    assert.equal((await get(task.id)).progress, 0.42, "nothing written");
  });

  it("replaces checkpoint and label when given, keeps them when absent", async () => {
    const task = await newTask("alice", "first");
    await s.client.updateProgress({ taskId: task.id, progress: 0.1, checkpoint: { phase: "a" } });
    let now = await get(task.id);
    assert.deepEqual([now.label, now.checkpoint], ["first", { phase: "a" }]);
    await s.client.updateProgress({ taskId: task.id, progress: 0.2, label: "second" });
    now = await get(task.id);
    assert.deepEqual([now.label, now.checkpoint], ["second", { phase: "a" }]);
    await s.client.updateProgress({ taskId: task.id, progress: 0.3, label: "" });
    now = await get(task.id);
    assert.deepEqual([now.label, now.revision], ["", 4n], "an empty label replaces; one revision per update");
  });

  it("is committed when it returns and pushes a persisted progress event to the owner's watchers only", async () => {
    const mine = await watching("pushy");
    const theirs = await watching("other");
    const task = await newTask("pushy");
    await s.client.updateProgress({ taskId: task.id, progress: 0.6, label: "Installing", checkpoint: { step: 3 } });
    const row = (await s.db.knex("tasks").where({ id: task.id }))[0] as { progress: number; label: string };
    assert.deepEqual([row.progress, row.label], [0.6, "Installing"], "the row is committed before the answer");
    const [line] = progressLines(await mine.until((m) => progressLines(m).length === 1));
    assert.deepEqual([line!.taskId, line!.owner, line!.progress, line!.label, line!.persisted], [task.id, "pushy", 0.6, "Installing", true]);
    assert.deepEqual(line!.checkpoint, { step: 3 });
    // The other owner's watch is still open and saw none of it (a task of its own shows the order).
    const own = await newTask("other");
    await theirs.until((m) => m.some((x) => x.event.case === "taskCreated"));
    assert.deepEqual(
      theirs.messages.filter((x) => x.event.case !== "snapshotEnd").map((x) => x.event.case === "taskCreated" && x.event.value.task!.id),
      [own.id],
    );
    await Promise.all([mine.cancel(), theirs.cancel()]);
  });

  it("answers an unknown task found=false without writing or pushing", async () => {
    const w = await watching("");
    const before = s.store.lastSequence();
    const res = await s.client.updateProgress({ taskId: "t-unknown", progress: 0.5 });
    assert.deepEqual([res.found, res.applied, res.status], [false, false, TaskStatus.UNSPECIFIED]);
    assert.equal(s.store.lastSequence(), before, "no event committed");
    const marker = await newTask("marker");
    await w.until((m) => m.some((x) => x.event.case === "taskCreated"));
    assert.deepEqual(
      w.messages.filter((x) => x.event.case !== "snapshotEnd" && x.event.case !== "snapshot").map((x) => x.event.case),
      ["taskCreated"],
      `nothing about t-unknown before the marker ${marker.id}`,
    );
    await w.cancel();
  });

  it("does not apply to a finished task, and tells a cancelled task's worker to stop", async () => {
    const done = await newTask();
    await s.client.completeTask({ taskId: done.id });
    const before = await get(done.id);
    const late = await s.client.updateProgress({ taskId: done.id, progress: 0.5, label: "late" });
    assert.deepEqual([late.found, late.applied, late.status], [true, false, TaskStatus.SUCCEEDED]);
    assert.deepEqual(await get(done.id), before, "nothing written");
    const cancelled = await newTask();
    await s.client.cancelTask({ taskId: cancelled.id, reason: "user" });
    const res = await s.client.updateProgress({ taskId: cancelled.id, progress: 0.5 });
    assert.deepEqual([res.applied, res.status, res.cancelRequested], [false, TaskStatus.CANCELLED, true]);
  });
});

describe("EmitProgress", () => {
  it("pushes live lines (stored progress when omitted, clamped when given) and never touches the task", async () => {
    const task = await newTask("emitter", "Installing engine dependencies");
    await s.client.updateProgress({ taskId: task.id, progress: 0.6 });
    const before = await get(task.id);
    const seq = s.store.lastSequence();
    const w = await watching("emitter");
    const res = await s.client.emitProgress({ taskId: task.id, progress: 0.6, label: "install: Collecting torch" });
    assert.deepEqual([res.found, res.status, res.cancelRequested], [true, TaskStatus.RUNNING, false]);
    await s.client.emitProgress({ taskId: task.id, label: "install: Collecting numpy" });
    await s.client.emitProgress({ taskId: task.id, progress: 7 });
    const lines = progressLines(await w.until((m) => progressLines(m).length === 3));
    assert.deepEqual(
      lines.map((l) => [l.progress, l.label, l.persisted]),
      [
        [0.6, "install: Collecting torch", false],
        [0.6, "install: Collecting numpy", false],
        [1, "Installing engine dependencies", false],
      ],
    );
    const live = w.messages.filter((x) => x.event.case === "progress");
    assert.ok(live.every((x) => x.sequence === BigInt(seq)), "live lines carry the last persisted sequence");
    assert.deepEqual(await get(task.id), before, "the task is unchanged");
    assert.equal(s.store.lastSequence(), seq, "nothing persisted");
    await w.cancel();
  });

  it("answers an unknown task found=false and a finished one without pushing", async () => {
    assert.equal((await s.client.emitProgress({ taskId: "t-unknown", label: "x" })).found, false);
    const task = await newTask("quiet");
    await s.client.failTask({ taskId: task.id, errorMessage: "boom" });
    const w = await watching("quiet");
    const res = await s.client.emitProgress({ taskId: task.id, label: "after the end" });
    assert.deepEqual([res.found, res.status], [true, TaskStatus.FAILED]);
    const marker = await newTask("quiet");
    await w.until((m) => m.some((x) => x.event.case === "taskCreated"));
    assert.equal(progressLines(w.messages).length, 0, `no line before the marker ${marker.id}`);
    await w.cancel();
  });
});
