import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { collect, errorOf, type InProcessService, type ServiceClient, startInProcess } from "../support/in-process.js";
import { isPersisted, REPLACE_SURFACE } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import type { TaskStore } from "../../src/domain/ports.js";
import type { Principal } from "../../src/service/principal.js";
import type {
  RequestConfirmationRequestSchema,
  RequestConfirmationResponse,
  WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * The fast tier: TaskControlService in process (connect's router transport, SQLite in
 * memory), the seed semantics as a worker and a watcher see them. One file, because each
 * test file is a process of its own and the start-up is most of the cost. Expiry and
 * bookmarks run on node:test mock timers: the manager's and the hub's timers are
 * setTimeout, and the store and the manager read Date.now.
 */

const leaks = trackLeaks();
after(() => leaks.check());

describe("UpdateProgress and EmitProgress", () => {
  /**
   * UpdateProgress and EmitProgress as the seed page defines them, against the service in
   * process (router transport, SQLite in memory): what a worker and a watcher would see.
   */

  let s: InProcessService;
  before(async () => {
    s = await startInProcess();
  });
  after(async () => {
    await s.close();
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
      // Each line is read before the next is sent: queued live lines of a task coalesce.
      await w.until((m) => progressLines(m).length === 1);
      await s.client.emitProgress({ taskId: task.id, label: "install: Collecting numpy" });
      await w.until((m) => progressLines(m).length === 2);
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
});

describe("confirmations", () => {
  /**
   * RequestConfirmation / ResolveConfirmation as the seed page defines them, in process.
   * Expiry runs on node:test mock timers: the manager's timer is a setTimeout and both the
   * manager and the store read Date.now, so ticking the mock clock is the timeout elapsing.
   */

  let s: InProcessService;
  before(async () => {
    s = await startInProcess();
  });
  after(async () => {
    await s.close();
  });

  type Request = MessageInitShape<typeof RequestConfirmationRequestSchema>;
  const newTask = async (owner = "alice") => (await s.client.createTask({ owner, kind: "test", label: "start" })).task!;
  const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;

  /** A held RequestConfirmation call. */
  function hold(request: Request, client: ServiceClient = s.client) {
    return collect<RequestConfirmationResponse>((signal) => client.requestConfirmation(request, { signal }));
  }
  async function pendingOf(held: ReturnType<typeof hold>): Promise<string> {
    const [first] = await held.until((m) => m.length >= 1);
    assert.equal(first!.event.case, "pending");
    return first!.event.case === "pending" ? first!.event.value.confirmation!.id : "";
  }
  /** The error a refused RequestConfirmation ends with. */
  const refused = (request: Request) =>
    errorOf(async () => {
      throw (await hold(request).ended()) ?? new Error("the call ended without an error");
    });
  const resolvedOf = async (held: ReturnType<typeof hold>) => {
    const m = await held.until((x) => x.length >= 2);
    assert.equal(await held.ended(), undefined, "the held call ends cleanly after resolved");
    assert.equal(m.length, 2);
    return m[1]!.event.case === "resolved" ? m[1]!.event.value : assert.fail(`second message is ${m[1]!.event.case}`);
  };

  describe("RequestConfirmation", { timeout: 10_000 }, () => {
    it("holds the call: pending first, the task waits, watchers are told", async () => {
      const task = await newTask("asker");
      const ui = collect((signal) => s.client.watchTasks({ owner: "asker" }, { signal }));
      const held = hold({ taskId: task.id, title: "Replace?", components: REPLACE_SURFACE });
      const cid = await pendingOf(held);
      const now = await get(task.id);
      assert.equal(now.status, TaskStatus.WAITING_CONFIRMATION);
      assert.deepEqual([now.pendingConfirmation?.id, now.pendingConfirmation?.state], [cid, ConfirmationState.PENDING]);
      const [requested] = await ui.until((m) => m.some((x) => x.event.case === "confirmationRequested"));
      assert.ok(requested!.event.case === "confirmationRequested" && requested!.event.value.confirmation!.id === cid);
      assert.equal(held.messages.length, 1, "held open until answered");
      await s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" });
      const r = await resolvedOf(held);
      assert.deepEqual([r.confirmationId, r.outcome, r.action], [cid, ConfirmationState.ANSWERED, "system.task.confirm_replace"]);
      assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
      const seen = await ui.until((m) => m.filter((x) => x.event.case === "statusChanged").length === 2);
      const statuses = seen.flatMap((x) => (x.event.case === "statusChanged" ? [x.event.value.task!.status] : []));
      assert.deepEqual(statuses, [TaskStatus.WAITING_CONFIRMATION, TaskStatus.RUNNING]);
      assert.ok(seen.some((x) => x.event.case === "confirmationResolved" && x.event.value.confirmation!.id === cid));
      await ui.cancel();
    });

    it("refuses an unknown task, a finished task and a second pending confirmation; the same request_id re-attaches", async () => {
      const unknown = await refused({ taskId: "t-nope", title: "t", components: REPLACE_SURFACE });
      assert.deepEqual([unknown.code, unknown.reason], [Code.NotFound, "TASK_NOT_FOUND"]);
      const done = await newTask();
      await s.client.completeTask({ taskId: done.id });
      const finished = await refused({ taskId: done.id, title: "t", components: REPLACE_SURFACE });
      assert.deepEqual([finished.code, finished.reason, finished.metadata.task_status], [Code.FailedPrecondition, "ILLEGAL_TRANSITION", "TASK_STATUS_SUCCEEDED"]);

      const task = await newTask();
      const first = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-1" });
      const cid = await pendingOf(first);
      const second = await refused({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-2" });
      assert.deepEqual([second.code, second.reason, second.metadata.confirmation_id], [Code.FailedPrecondition, "CONFIRMATION_PENDING", cid]);
      const again = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-1" });
      assert.equal(await pendingOf(again), cid, "re-attached");
      await s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" });
      assert.equal((await resolvedOf(first)).action, "system.task.confirm_cancel");
      assert.equal((await resolvedOf(again)).action, "system.task.confirm_cancel", "every held call gets the answer once");
    });

    it("validates components: unique non-empty ids and at least one button", async () => {
      const task = await newTask();
      const text = { id: "t", kind: { case: "text" as const, value: { text: "hi" } } };
      for (const [components, field] of [
        [[text], "components"],
        [[...REPLACE_SURFACE, { ...REPLACE_SURFACE[1] }], "components[3].id"],
        [[{ ...text, id: "" }, ...REPLACE_SURFACE.slice(1)], "components[0].id"],
      ] satisfies [Request["components"], string][]) {
        const err = await refused({ taskId: task.id, title: "t", components });
        assert.deepEqual([err.code, err.reason], [Code.InvalidArgument, "INVALID_ARGUMENT"], JSON.stringify(components));
        assert.ok(err.fields.includes(field), `${field} in ${JSON.stringify(err.fields)}`);
      }
      assert.equal((await get(task.id)).status, TaskStatus.RUNNING, "nothing stored");
    });
  });

  describe("ResolveConfirmation", { timeout: 10_000 }, () => {
    const SURFACE: Request["components"] = [
      { id: "name", kind: { case: "textInput", value: { label: "Name", required: true } } },
      { id: "ok", kind: { case: "button", value: { label: "OK", action: "go" } } },
    ];

    it("checks the action, the value keys and required inputs; the first answer wins", async () => {
      const task = await newTask();
      const held = hold({ taskId: task.id, title: "Name it", components: SURFACE });
      const cid = await pendingOf(held);
      const wrongAction = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "nope", values: { name: "x" } }));
      assert.deepEqual([wrongAction.code, wrongAction.fields], [Code.InvalidArgument, ["action"]]);
      const unknownKey = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "x", other: 1 } }));
      assert.deepEqual([unknownKey.code, unknownKey.fields], [Code.InvalidArgument, ["values.other"]]);
      const missing = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go" }));
      assert.deepEqual([missing.code, missing.fields], [Code.InvalidArgument, ["values.name"]]);
      assert.equal(held.messages.length, 1, "a refused answer resolves nothing");

      const answer = await s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "model-a" } });
      assert.equal(answer.confirmation!.state, ConfirmationState.ANSWERED);
      const second = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "b" } }));
      assert.deepEqual([second.code, second.reason, second.metadata.confirmation_state], [Code.FailedPrecondition, "ALREADY_RESOLVED", "CONFIRMATION_STATE_ANSWERED"]);
      const r = await resolvedOf(held);
      assert.deepEqual(r.values, { name: "model-a" }, "the first answer is the one delivered");
      const unknown = await errorOf(s.client.resolveConfirmation({ confirmationId: "c-nope", action: "go" }));
      assert.deepEqual([unknown.code, unknown.reason], [Code.NotFound, "CONFIRMATION_NOT_FOUND"]);
    });

    it("ends a pending confirmation CANCELLED when its task is cancelled", async () => {
      const task = await newTask();
      const held = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE });
      const cid = await pendingOf(held);
      await s.client.cancelTask({ taskId: task.id, reason: "user" });
      const r = await resolvedOf(held);
      assert.deepEqual([r.confirmationId, r.outcome, r.cancelRequested], [cid, ConfirmationState.CANCELLED, true]);
      assert.equal((await get(task.id)).status, TaskStatus.CANCELLED);
    });
  });

  describe("expiry (mock timers)", { timeout: 10_000 }, () => {
    it("ends the confirmation EXPIRED exactly at its timeout; the task resumes and watchers are told", async (t) => {
      t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
      const task = await newTask("expiring");
      const other = await newTask("expiring-barrier");
      const ui = collect((signal) => s.client.watchTasks({ owner: "expiring" }, { signal }));
      const held = hold({ taskId: task.id, title: "quick", components: REPLACE_SURFACE, timeout: { seconds: 400n, nanos: 0 } });
      const cid = await pendingOf(held);
      await ui.until((m) => m.some((x) => x.event.case === "confirmationRequested"));
      t.mock.timers.tick(399_999);
      // A write queued after anything the tick set off: once it is committed, so is an expiry
      // (one writer, one connection, in order).
      await s.client.updateProgress({ taskId: other.id, progress: 0.5 });
      assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION, "not expired 1 ms early");
      assert.equal(held.messages.length, 1);
      t.mock.timers.tick(1);
      const r = await resolvedOf(held);
      assert.deepEqual([r.confirmationId, r.outcome], [cid, ConfirmationState.EXPIRED]);
      assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
      const m = await ui.until((x) => x.some((e) => e.event.case === "confirmationResolved"));
      const resolved = m.find((x) => x.event.case === "confirmationResolved")!;
      assert.ok(resolved.event.case === "confirmationResolved");
      assert.equal(resolved.event.value.confirmation!.state, ConfirmationState.EXPIRED);
      await ui.cancel();
    });

    it("a late answer to an expired confirmation is ALREADY_RESOLVED", async (t) => {
      t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
      const task = await newTask();
      const held = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, timeout: { seconds: 1n, nanos: 0 } });
      const cid = await pendingOf(held);
      t.mock.timers.tick(1000);
      assert.equal((await resolvedOf(held)).outcome, ConfirmationState.EXPIRED);
      const late = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" }));
      assert.deepEqual([late.reason, late.metadata.confirmation_state], ["ALREADY_RESOLVED", "CONFIRMATION_STATE_EXPIRED"]);
    });
  });
});

describe("watching and scoping", () => {
  /**
   * WatchTasks list-then-watch (snapshot, snapshot_end, replay, bookmarks on mock timers) and
   * scoping by principal, in process. Principals are set the way the listeners' call guard
   * sets them: as the call's principal context value.
   */

  const BOOKMARK_MS = 5000;
  let s: InProcessService;
  before(async () => {
    s = await startInProcess({ bookmarkMs: BOOKMARK_MS });
  });
  after(async () => {
    await s.close();
  });

  const newTask = async (owner: string) => (await s.client.createTask({ owner, kind: "test", label: "start" })).task!;
  const watchOf = (request: Parameters<InProcessService["client"]["watchTasks"]>[0], client = s.client) =>
    collect<WatchTasksResponse>((signal) => client.watchTasks(request, { signal }));
  /** Persisted events as comparable [sequence, case, task id] rows. */
  const log = (m: WatchTasksResponse[]) =>
    m.filter(isPersisted).map((x) => [x.sequence, x.event.case, x.event.value && "taskId" in x.event.value ? x.event.value.taskId : ""]);

  describe("WatchTasks", { timeout: 10_000 }, () => {
    it("sends the snapshot, then snapshot_end at the sequence it reflects, then live events without a gap", async () => {
      const a = await newTask("snap");
      const b = await newTask("snap");
      await s.client.updateProgress({ taskId: a.id, progress: 0.5 });
      await s.client.completeTask({ taskId: b.id });
      const w = watchOf({ owner: "snap", includeSnapshot: true });
      const first = await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
      const end = first.find((x) => x.event.case === "snapshotEnd")!;
      assert.equal(end.sequence, BigInt(s.store.lastSequence()));
      const snapshots = first.filter((x) => x.event.case === "snapshot");
      assert.deepEqual(
        snapshots.map((x) => x.event.case === "snapshot" && [x.event.value.task!.id, x.event.value.task!.progress]),
        [[a.id, 0.5]],
        "the current state of active tasks",
      );
      await s.client.updateProgress({ taskId: a.id, progress: 0.7 });
      const live = await w.until((m) => m.some((x) => x.event.case === "progress"));
      const p = live.find((x) => x.event.case === "progress")!;
      assert.equal(p.sequence, end.sequence + 1n, "the first live event follows the snapshot's sequence");
      await w.cancel();

      // Resuming from snapshot_end replays exactly what came after it.
      const resumed = watchOf({ owner: "snap", afterSequence: end.sequence });
      const replay = await resumed.until((m) => m.some((x) => x.event.case === "progress"));
      assert.deepEqual(log(replay), [[end.sequence + 1n, "progress", a.id]]);
      await resumed.cancel();
    });

    it("replays every persisted event after after_sequence, in order, without duplicates, then goes live", async () => {
      const from = BigInt(s.store.lastSequence());
      const task = await newTask("replay");
      for (let i = 1; i <= 5; i++) await s.client.updateProgress({ taskId: task.id, progress: i / 10 });
      await s.client.emitProgress({ taskId: task.id, label: "live only" });
      const w = watchOf({ owner: "replay", afterSequence: from });
      await w.until((m) => m.filter(isPersisted).length === 6);
      await s.client.updateProgress({ taskId: task.id, progress: 0.9 });
      const m = await w.until((x) => x.filter(isPersisted).length === 7);
      const seqs = m.filter(isPersisted).map((x) => x.sequence);
      assert.deepEqual(seqs, Array.from({ length: 7 }, (_, i) => from + 1n + BigInt(i)));
      assert.ok(!m.some((x) => x.event.case === "progress" && !x.event.value.persisted), "live lines are not replayed");
      await w.cancel();
    });

    it("refuses an after_sequence ahead of the log with OUT_OF_RANGE and the latest sequence", async () => {
      const latest = s.store.lastSequence();
      const err = await errorOf(watchOf({ afterSequence: BigInt(latest + 10) }).ended().then((e) => Promise.reject(e)));
      assert.deepEqual([err.code, err.reason, err.metadata.latest_sequence], [Code.OutOfRange, "SEQUENCE_AHEAD", String(latest)]);
    });

    it("sends a bookmark with the latest sequence on an idle stream, each bookmark interval", async (t) => {
      t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
      const w = watchOf({ owner: "idle", includeSnapshot: true });
      await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
      // After snapshot_end the watch parks with its idle timer (after a log read, if a commit
      // passed the snapshot): give that real time (only setTimeout and Date are mocked)
      // before the clock moves.
      const settled = performance.now() + 200;
      while (performance.now() < settled) await new Promise((r) => setImmediate(r));
      t.mock.timers.tick(BOOKMARK_MS - 1);
      await newTask("someone-else"); // a turn of the loop: no bookmark yet
      assert.ok(!w.messages.some((x) => x.event.case === "bookmark"), "no bookmark before the interval");
      t.mock.timers.tick(1);
      const [bookmark] = (await w.until((m) => m.some((x) => x.event.case === "bookmark"))).filter((x) => x.event.case === "bookmark");
      assert.equal(bookmark!.sequence, BigInt(s.store.lastSequence()), "it tells the latest sequence");
      t.mock.timers.tick(BOOKMARK_MS);
      await w.until((m) => m.filter((x) => x.event.case === "bookmark").length === 2);
      await w.cancel();
    });
  });

  describe("scoping by principal", { timeout: 10_000 }, () => {
    const alice: Principal = { name: "alice-ui", role: "user", owner: "alice" };
    const gateway: Principal = { name: "gw", role: "gateway" };

    it("a user sees only its owner's tasks: another's is NOT_FOUND, watching or listing another owner PERMISSION_DENIED", async () => {
      const mine = await newTask("alice");
      const theirs = await newTask("bob");
      const ui = s.as(alice);
      assert.equal((await ui.getTask({ taskId: mine.id })).task!.id, mine.id);
      const hidden = await errorOf(ui.getTask({ taskId: theirs.id }));
      assert.deepEqual([hidden.code, hidden.reason], [Code.NotFound, "TASK_NOT_FOUND"]);
      const cancel = await errorOf(ui.cancelTask({ taskId: theirs.id }));
      assert.deepEqual([cancel.code, cancel.reason], [Code.NotFound, "TASK_NOT_FOUND"]);
      const list = await ui.listTasks({});
      assert.ok(list.tasks.length > 0 && list.tasks.every((x) => x.owner === "alice"), "an empty owner lists its own");
      const listOther = await errorOf(ui.listTasks({ owner: "bob" }));
      assert.deepEqual([listOther.code, listOther.reason], [Code.PermissionDenied, "PERMISSION_DENIED"]);
      const watchOther = await errorOf(watchOf({ owner: "bob" }, ui).ended().then((e) => Promise.reject(e)));
      assert.deepEqual([watchOther.code, watchOther.reason], [Code.PermissionDenied, "PERMISSION_DENIED"]);
    });

    it("a user's watch with an empty owner is its own; a gateway's sees every owner", async () => {
      const own = watchOf({ includeSnapshot: true }, s.as(alice));
      const all = watchOf({ includeSnapshot: true }, s.as(gateway));
      await Promise.all([own, all].map((w) => w.until((m) => m.some((x) => x.event.case === "snapshotEnd"))));
      const bob = await newTask("bob");
      const alices = await newTask("alice");
      await all.until((m) => m.filter((x) => x.event.case === "taskCreated").length === 2);
      await own.until((m) => m.some((x) => x.event.case === "taskCreated"));
      const created = (w: typeof own) => w.messages.flatMap((x) => (x.event.case === "taskCreated" ? [x.event.value.task!.id] : []));
      assert.deepEqual(created(all), [bob.id, alices.id]);
      assert.deepEqual(created(own), [alices.id], "bob's task, created first, never reached alice");
      assert.ok(own.messages.filter((x) => x.event.case === "snapshot").every((x) => x.event.case === "snapshot" && x.event.value.task!.owner === "alice"));
      await Promise.all([own.cancel(), all.cancel()]);
    });

    it("a user cannot answer another owner's confirmation: CONFIRMATION_NOT_FOUND, and it stays pending", async () => {
      const task = await newTask("bob");
      const held = collect((signal) =>
        s.client.requestConfirmation(
          { taskId: task.id, title: "t", components: [{ id: "ok", kind: { case: "button", value: { label: "OK", action: "go" } } }] },
          { signal },
        ),
      );
      const [pending] = await held.until((m) => m.length === 1);
      const cid = pending!.event.case === "pending" ? pending!.event.value.confirmation!.id : assert.fail("not pending");
      const err = await errorOf(s.as(alice).resolveConfirmation({ confirmationId: cid, action: "go" }));
      assert.deepEqual([err.code, err.reason, err.domain], [Code.NotFound, "CONFIRMATION_NOT_FOUND", "taskcontrol"]);
      assert.equal(held.messages.length, 1);
      await s.as(gateway).resolveConfirmation({ confirmationId: cid, action: "go" });
      await held.until((m) => m.length === 2);
      assert.deepEqual(s.unexpected, [], "no error reached a caller as INTERNAL");
    });
  });
});

describe("WatchTasks is live from snapshot_end", { timeout: 10_000 }, () => {
  /**
   * When nothing was committed while the snapshot was sent (the usual case), the first event
   * after snapshot_end must not wait for a read of the event log: with thousands of watches
   * opened at once (a gateway's browsers reconnecting), those reads queue on the database and
   * every watch's live events waited behind all of them (seconds, in the fan-out bench).
   * Here the log reads hang until the test ends: a watch that needs one never sees the event.
   */
  let s: InProcessService;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let logReads = 0;
  before(async () => {
    s = await startInProcess({
      wrapStore: (store) => {
        const gated: TaskStore = Object.create(store) as TaskStore;
        gated.readEvents = async (after, limit) => {
          logReads++;
          await gate;
          return store.readEvents(after, limit);
        };
        gated.oldestRetainedSequence = async () => {
          logReads++;
          await gate;
          return store.oldestRetainedSequence();
        };
        return gated;
      },
    });
  });
  after(async () => {
    release();
    await s.close();
  });

  it("a quiet snapshot goes live without reading the log", async () => {
    await s.client.createTask({ owner: "carol", kind: "test", label: "before" });
    const w = collect((signal) => s.client.watchTasks({ owner: "carol", includeSnapshot: true }, { signal }));
    await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
    const created = (await s.client.createTask({ owner: "carol", kind: "test", label: "after" })).task!;
    const live = await w.until((m) => m.some((x) => x.event.case === "taskCreated"));
    const ev = live.find((x) => x.event.case === "taskCreated")!;
    assert.equal(ev.event.case === "taskCreated" && ev.event.value.task!.id, created.id);
    assert.equal(logReads, 0, "log reads made by a watch whose snapshot nothing passed");
    await w.cancel();
  });
});
