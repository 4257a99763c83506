import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { Code } from "@connectrpc/connect";
import { collect, errorOf, type InProcessService, startInProcess } from "../support/in-process.js";
import { REPLACE_SURFACE } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import { LAPSE_SLACK_MS } from "../../src/domain/leases.js";
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Leases, stalls, attempts, claims and safe retries (issue 13) against the service in process.
 * Lapses run on node:test mock timers: the lease timers are setTimeout and the manager and the
 * store read Date.now, so ticking the mock clock is the lease running out.
 */

const leaks = trackLeaks();
after(() => leaks.check());

const LEASE = { seconds: 10n, nanos: 0 };
const statuses = (m: WatchTasksResponse[], id: string) =>
  m.flatMap((x) => (x.event.case === "statusChanged" && x.event.value.task!.id === id ? [x.event.value.task!.status] : []));

describe("leases", { timeout: 20_000 }, () => {
  let s: InProcessService;
  before(async () => {
    s = await startInProcess({ stallFailAfterMs: 0 });
  });
  after(() => s.close());

  const newTask = async (owner = "lease", lease = LEASE) => (await s.client.createTask({ owner, kind: "k", leaseDuration: lease })).task!;
  const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;
  /** Committed once this returns: a write queued after whatever a tick set off (one writer, in order). */
  const barrier = async () => {
    const t = (await s.client.createTask({ owner: "barrier" })).task!;
    await s.client.updateProgress({ taskId: t.id, progress: 0.5 });
  };
  async function watching(owner: string) {
    const w = collect((signal) => s.client.watchTasks({ owner, includeSnapshot: true }, { signal }));
    await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
    return w;
  }
  const mockTime = (t: TestContext) => t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });

  it("a new task is attempt 1 with its lease; without one it has none", async () => {
    const leased = await newTask();
    assert.equal(leased.attempt, 1n);
    assert.deepEqual(leased.leaseDuration && [leased.leaseDuration.seconds, leased.leaseDuration.nanos], [10n, 0]);
    assert.ok(leased.leaseExpireTime, "lease_expire_time set");
    const plain = (await s.client.createTask({ owner: "lease" })).task!;
    assert.equal(plain.attempt, 1n);
    assert.equal(plain.leaseExpireTime, undefined);
    assert.equal(plain.leaseDuration, undefined);
  });

  it("refuses a lease shorter than 1 s or longer than 24 h, naming the field, and creates nothing", async () => {
    for (const leaseDuration of [{ seconds: 0n, nanos: 500_000_000 }, { seconds: 86_401n, nanos: 0 }, { seconds: -1n, nanos: 0 }]) {
      const before = (await s.client.listTasks({ owner: "bad-lease" })).tasks.length;
      const err = await errorOf(s.client.createTask({ owner: "bad-lease", leaseDuration }));
      assert.deepEqual([err.code, err.reason, err.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", ["lease_duration"]]);
      assert.equal((await s.client.listTasks({ owner: "bad-lease" })).tasks.length, before);
    }
  });

  it("lapses to STALLED at the lease (+ the lapse slack) with no word, pushed with stall_time; the next heartbeat makes it RUNNING", async (t) => {
    mockTime(t);
    const task = await newTask("lapse");
    const ui = await watching("lapse");
    t.mock.timers.tick(9_999 + LAPSE_SLACK_MS);
    await barrier();
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING, "not stalled 1 ms early");
    t.mock.timers.tick(1);
    await barrier();
    const stalled = await get(task.id);
    assert.equal(stalled.status, TaskStatus.STALLED);
    assert.ok(stalled.stallTime, "stall_time set");
    await ui.until((m) => statuses(m, task.id).includes(TaskStatus.STALLED));
    const hb = await s.client.heartbeat({ taskId: task.id, attempt: 1n });
    assert.deepEqual([hb.found, hb.status], [true, TaskStatus.RUNNING]);
    const m = await ui.until((x) => statuses(x, task.id).length === 2);
    assert.deepEqual(statuses(m, task.id), [TaskStatus.STALLED, TaskStatus.RUNNING]);
    assert.equal((await get(task.id)).stallTime, undefined);
    await ui.cancel();
  });

  it("heartbeats keep it RUNNING for many leases without a row write per call", async (t) => {
    mockTime(t);
    const task = await newTask("beating");
    const revision = (await get(task.id)).revision;
    let writes = 0;
    for (let i = 0; i < 60; i++) {
      t.mock.timers.tick(3_000);
      const hb = await s.client.heartbeat({ taskId: task.id });
      assert.equal(hb.status, TaskStatus.RUNNING, `heartbeat ${i}`);
      assert.ok(hb.leaseExpireTime && Number(hb.leaseExpireTime.seconds) * 1000 >= Date.now() + 9_000, "the answer carries the renewed expiry");
    }
    await barrier();
    const after = await get(task.id);
    assert.equal(after.status, TaskStatus.RUNNING);
    writes = Number(after.revision - revision);
    // 180 s of heartbeats every 3 s under a 10 s lease: the persisted expiry moved at most
    // about once per lease, never once per call.
    assert.ok(writes <= 20, `${writes} row writes for 60 heartbeats`);
    assert.ok(writes >= 1, "the persisted expiry was renewed");
  });

  it("EmitProgress and UpdateProgress renew it too; EmitProgress on a STALLED task recovers it", async (t) => {
    mockTime(t);
    const task = await newTask("emitting");
    for (let i = 0; i < 5; i++) {
      t.mock.timers.tick(6_000);
      await s.client.emitProgress({ taskId: task.id, progress: i / 10 });
    }
    t.mock.timers.tick(6_000);
    await s.client.updateProgress({ taskId: task.id, progress: 0.7 });
    t.mock.timers.tick(9_999 + LAPSE_SLACK_MS);
    await barrier();
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
    t.mock.timers.tick(1);
    await barrier();
    assert.equal((await get(task.id)).status, TaskStatus.STALLED);
    const e = await s.client.emitProgress({ taskId: task.id, progress: 0.8 });
    assert.equal(e.status, TaskStatus.RUNNING);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
  });

  it("unknown task: found=false, as for UpdateProgress", async () => {
    const hb = await s.client.heartbeat({ taskId: "t-does-not-exist" });
    assert.deepEqual([hb.found, hb.status, hb.cancelRequested], [false, TaskStatus.UNSPECIFIED, false]);
    const malformed = await s.client.heartbeat({ taskId: "no spaces allowed" });
    assert.equal(malformed.found, false);
  });

  it("an open RequestConfirmation call keeps the lease alive; after the drop it runs from the drop", async (t) => {
    mockTime(t);
    const task = await newTask("holding");
    const held = collect((signal) =>
      s.client.requestConfirmation({ taskId: task.id, title: "ok?", components: REPLACE_SURFACE, requestId: "ask-1" }, { signal }),
    );
    await held.until((m) => m.length === 1);
    for (let i = 0; i < 5; i++) {
      t.mock.timers.tick(10_000);
      await barrier();
    }
    assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION, "50 s held: still waiting");
    await held.cancel();
    t.mock.timers.tick(9_999 + LAPSE_SLACK_MS);
    await barrier();
    assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION);
    t.mock.timers.tick(1);
    await barrier();
    const stalled = await get(task.id);
    assert.equal(stalled.status, TaskStatus.STALLED, "the worker whose call dropped is stalled");
    assert.ok(stalled.pendingConfirmation, "its confirmation stays pending for an answer");
    // The worker re-attaches with its request_id: waiting again.
    const again = collect((signal) =>
      s.client.requestConfirmation({ taskId: task.id, title: "ok?", components: REPLACE_SURFACE, requestId: "ask-1", attempt: 1n }, { signal }),
    );
    await again.until((m) => m.length === 1);
    assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION);
    await again.cancel();
  });
});

describe("attempts and claims", { timeout: 20_000 }, () => {
  let s: InProcessService;
  before(async () => {
    s = await startInProcess();
  });
  after(() => s.close());

  const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;

  it("a claim makes attempt 2 with a fresh lease, keeping progress, label and checkpoint; the same request_id returns the same claim", async () => {
    const task = (await s.client.createTask({ owner: "claims", label: "start", leaseDuration: LEASE })).task!;
    await s.client.updateProgress({ taskId: task.id, progress: 0.6, label: "halfway", checkpoint: { step: 3 } });
    const c1 = (await s.client.claimTask({ taskId: task.id, requestId: "claim-a" })).task!;
    assert.equal(c1.attempt, 2n);
    assert.deepEqual([c1.progress, c1.label, c1.checkpoint], [0.6, "halfway", { step: 3 }]);
    assert.equal(c1.status, TaskStatus.RUNNING);
    const again = (await s.client.claimTask({ taskId: task.id, requestId: "claim-a" })).task!;
    assert.deepEqual([again.attempt, again.revision], [2n, c1.revision], "no second increment");
    const c2 = (await s.client.claimTask({ taskId: task.id, leaseDuration: { seconds: 30n, nanos: 0 } })).task!;
    assert.equal(c2.attempt, 3n);
    assert.equal(c2.leaseDuration?.seconds, 30n);
    assert.equal(s.manager.leaseCounts().claims, 2);
  });

  it("after a claim every call of the old attempt is refused ATTEMPT_SUPERSEDED and changes nothing", async () => {
    const task = (await s.client.createTask({ owner: "claims", leaseDuration: LEASE })).task!;
    await s.client.claimTask({ taskId: task.id });
    const before = await get(task.id);
    const calls: [string, () => Promise<unknown>][] = [
      ["UpdateProgress", () => s.client.updateProgress({ taskId: task.id, progress: 0.9, attempt: 1n })],
      ["EmitProgress", () => s.client.emitProgress({ taskId: task.id, progress: 0.9, attempt: 1n })],
      ["Heartbeat", () => s.client.heartbeat({ taskId: task.id, attempt: 1n })],
      ["CompleteTask", () => s.client.completeTask({ taskId: task.id, attempt: 1n })],
      ["FailTask", () => s.client.failTask({ taskId: task.id, errorMessage: "x", attempt: 1n })],
      [
        "RequestConfirmation",
        async () => {
          for await (const _ of s.client.requestConfirmation({ taskId: task.id, title: "t", components: REPLACE_SURFACE, attempt: 1n })) void _;
        },
      ],
      ["StreamProgress", () => s.client.streamProgress((async function* () {
        yield { message: { case: "update" as const, value: { taskId: task.id, progress: 0.9, attempt: 1n } } };
      })())],
    ];
    for (const [name, call] of calls) {
      const err = await errorOf(call);
      assert.deepEqual([err.code, err.reason, err.metadata.current_attempt], [Code.FailedPrecondition, "ATTEMPT_SUPERSEDED", "2"], name);
    }
    // A future attempt (never handed out) is refused the same way.
    const future = await errorOf(s.client.updateProgress({ taskId: task.id, progress: 0.9, attempt: 7n }));
    assert.equal(future.reason, "ATTEMPT_SUPERSEDED");
    const after = await get(task.id);
    assert.deepEqual([after.revision, after.progress, after.status], [before.revision, before.progress, before.status], "nothing changed");
    // The current attempt and unchecked calls go through.
    assert.equal((await s.client.updateProgress({ taskId: task.id, progress: 0.5, attempt: 2n })).applied, true);
    assert.equal((await s.client.updateProgress({ taskId: task.id, progress: 0.6 })).applied, true);
    assert.equal((await s.client.completeTask({ taskId: task.id, attempt: 2n })).task!.status, TaskStatus.SUCCEEDED);
  });

  it("a claim of a waiting task keeps its confirmation; the new attempt re-attaches with the request_id", async () => {
    const task = (await s.client.createTask({ owner: "claims", leaseDuration: LEASE })).task!;
    const held = collect((signal) =>
      s.client.requestConfirmation({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "ask" }, { signal }),
    );
    const [pending] = await held.until((m) => m.length === 1);
    await held.cancel();
    const claimed = (await s.client.claimTask({ taskId: task.id })).task!;
    assert.equal(claimed.status, TaskStatus.WAITING_CONFIRMATION);
    assert.ok(pending!.event.case === "pending");
    assert.equal(claimed.pendingConfirmation?.id, pending!.event.value.confirmation!.id);
    const re = collect((signal) =>
      s.client.requestConfirmation({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "ask", attempt: 2n }, { signal }),
    );
    const [first] = await re.until((m) => m.length === 1);
    assert.ok(first!.event.case === "pending");
    assert.equal(first!.event.value.confirmation!.id, claimed.pendingConfirmation!.id);
    await re.cancel();
  });

  it("claiming a finished task is ILLEGAL_TRANSITION; an unknown one NOT_FOUND", async () => {
    const task = (await s.client.createTask({ owner: "claims" })).task!;
    await s.client.cancelTask({ taskId: task.id });
    const err = await errorOf(s.client.claimTask({ taskId: task.id }));
    assert.deepEqual([err.code, err.reason], [Code.FailedPrecondition, "ILLEGAL_TRANSITION"]);
    assert.equal((await errorOf(s.client.claimTask({ taskId: "t-nope" }))).reason, "TASK_NOT_FOUND");
    const bad = await errorOf(s.client.claimTask({ taskId: task.id, leaseDuration: { seconds: 0n, nanos: 1_000_000 } }));
    assert.deepEqual(bad.fields, ["lease_duration"]);
  });
});

describe("safe retries of terminal calls", () => {
  let s: InProcessService;
  before(async () => {
    s = await startInProcess();
  });
  after(() => s.close());

  async function eventsOf(taskId: string): Promise<number> {
    return (await s.store.readEvents(0, 100_000)).filter((e) => e.taskId === taskId).length;
  }

  it("CompleteTask again with the same or no result → OK, the same task, no new event; another result → ILLEGAL_TRANSITION", async () => {
    const task = (await s.client.createTask({ owner: "retry" })).task!;
    const done = (await s.client.completeTask({ taskId: task.id, result: { n: 1, list: [1, 2] } })).task!;
    const events = await eventsOf(task.id);
    const same = (await s.client.completeTask({ taskId: task.id, result: { list: [1, 2], n: 1 } })).task!;
    const empty = (await s.client.completeTask({ taskId: task.id })).task!;
    assert.deepEqual([same.revision, empty.revision, same.status], [done.revision, done.revision, TaskStatus.SUCCEEDED]);
    assert.equal(await eventsOf(task.id), events, "no new event");
    const other = await errorOf(s.client.completeTask({ taskId: task.id, result: { n: 2 } }));
    assert.deepEqual([other.code, other.reason], [Code.FailedPrecondition, "ILLEGAL_TRANSITION"]);
    assert.equal((await errorOf(s.client.failTask({ taskId: task.id, errorMessage: "x" }))).reason, "ILLEGAL_TRANSITION");
    assert.equal((await errorOf(s.client.cancelTask({ taskId: task.id }))).reason, "ILLEGAL_TRANSITION");
  });

  it("FailTask again with the same message → OK; another message → ILLEGAL_TRANSITION", async () => {
    const task = (await s.client.createTask({ owner: "retry" })).task!;
    const failed = (await s.client.failTask({ taskId: task.id, errorMessage: "disk full", details: { code: 28 } })).task!;
    const events = await eventsOf(task.id);
    assert.equal((await s.client.failTask({ taskId: task.id, errorMessage: "disk full", details: { code: 28 } })).task!.revision, failed.revision);
    assert.equal((await s.client.failTask({ taskId: task.id, errorMessage: "disk full" })).task!.revision, failed.revision);
    assert.equal(await eventsOf(task.id), events);
    assert.equal((await errorOf(s.client.failTask({ taskId: task.id, errorMessage: "other" }))).reason, "ILLEGAL_TRANSITION");
    assert.equal((await errorOf(s.client.completeTask({ taskId: task.id }))).reason, "ILLEGAL_TRANSITION");
  });

  it("CancelTask again → OK with the first reason; Complete or Fail after it → ILLEGAL_TRANSITION", async () => {
    const task = (await s.client.createTask({ owner: "retry" })).task!;
    const first = (await s.client.cancelTask({ taskId: task.id, reason: "user stopped it" })).task!;
    const events = await eventsOf(task.id);
    const again = (await s.client.cancelTask({ taskId: task.id, reason: "again" })).task!;
    assert.deepEqual([again.revision, again.cancelReason], [first.revision, "user stopped it"]);
    assert.equal(await eventsOf(task.id), events);
    assert.equal((await errorOf(s.client.completeTask({ taskId: task.id }))).reason, "ILLEGAL_TRANSITION");
  });
});

describe("the cancel reaches a worker's watch", () => {
  let s: InProcessService;
  before(async () => {
    s = await startInProcess();
  });
  after(() => s.close());
  const worker = () => s.as({ name: "w1", role: "worker" });

  it("a worker may watch its task_ids and gets the cancel with its reason; an owner-wide watch is PERMISSION_DENIED", async () => {
    const task = (await worker().createTask({ owner: "alice", leaseDuration: LEASE })).task!;
    const w = collect((signal) => worker().watchTasks({ taskIds: [task.id], includeSnapshot: true }, { signal }));
    await w.until((m) => m.some((x) => x.event.case === "snapshotEnd"));
    await s.as({ name: "alice", role: "user", owner: "alice" }).cancelTask({ taskId: task.id, reason: "not needed any more" });
    const m = await w.until((x) => x.some((e) => e.event.case === "statusChanged"));
    const ev = m.find((e) => e.event.case === "statusChanged")!;
    assert.ok(ev.event.case === "statusChanged");
    assert.deepEqual(
      [ev.event.value.task!.status, ev.event.value.task!.cancelReason, ev.event.value.task!.cancelRequested],
      [TaskStatus.CANCELLED, "not needed any more", true],
    );
    await w.cancel();
    const wide = collect((signal) => worker().watchTasks({ owner: "alice" }, { signal }));
    const err = await wide.ended();
    assert.ok(err, "the owner-wide watch ended with an error");
    assert.equal((await errorOf(Promise.reject(err))).code, Code.PermissionDenied);
  });
});

describe("--stall-fail-after-ms", { timeout: 20_000 }, () => {
  let s: InProcessService;
  before(async () => {
    s = await startInProcess({ stallFailAfterMs: 30_000 });
  });
  after(() => s.close());

  it("a stall older than N fails the task with details; a recovered one does not", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const dead = (await s.client.createTask({ owner: "fail-after", leaseDuration: LEASE })).task!;
    const alive = (await s.client.createTask({ owner: "fail-after", leaseDuration: LEASE })).task!;
    const barrier = () => s.client.updateProgress({ taskId: "t-none", progress: 0 }).then(() => s.client.createTask({ owner: "b" }));
    t.mock.timers.tick(10_000 + LAPSE_SLACK_MS);
    await barrier();
    assert.equal((await s.client.getTask({ taskId: dead.id })).task!.status, TaskStatus.STALLED);
    t.mock.timers.tick(20_000 - LAPSE_SLACK_MS);
    await s.client.heartbeat({ taskId: alive.id });
    t.mock.timers.tick(5_000);
    await s.client.heartbeat({ taskId: alive.id });
    // Stalled at 10 s + the slack: failed 30 s later.
    t.mock.timers.tick(5_249);
    await barrier();
    assert.equal((await s.client.getTask({ taskId: dead.id })).task!.status, TaskStatus.STALLED, "not failed 1 ms early");
    t.mock.timers.tick(1);
    await barrier();
    await barrier();
    const failed = (await s.client.getTask({ taskId: dead.id })).task!;
    assert.equal(failed.status, TaskStatus.FAILED);
    assert.match(failed.errorMessage, /no word from the worker for 40 s \(attempt 1\)/);
    assert.equal(failed.errorDetails?.reason, "STALLED");
    assert.equal((await s.client.getTask({ taskId: alive.id })).task!.status, TaskStatus.RUNNING);
    assert.deepEqual([s.manager.leaseCounts().expired >= 2, s.manager.leaseCounts().stallsFailed], [true, 1]);
  });
});
