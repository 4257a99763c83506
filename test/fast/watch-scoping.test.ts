import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { collect, errorOf, type InProcessService, startInProcess } from "../support/in-process.js";
import { isPersisted } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import type { Principal } from "../../src/service/principal.js";
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * WatchTasks list-then-watch (snapshot, snapshot_end, replay, bookmarks on mock timers) and
 * scoping by principal, in process. Principals are set the way the listeners' call guard
 * sets them: as the call's principal context value.
 */

const BOOKMARK_MS = 5000;
const leaks = trackLeaks();
let s: InProcessService;
before(async () => {
  s = await startInProcess({ bookmarkMs: BOOKMARK_MS });
});
after(async () => {
  await s.close();
  await leaks.check();
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
    t.mock.timers.tick(BOOKMARK_MS - 1);
    await newTask("someone-else"); // a commit elsewhere, a turn of the loop: no bookmark yet
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
