import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import { committedRow as readCommittedRow } from "../support/committed.js";
import { cases, type ComponentInit, createTask, holdConfirmation, REPLACE_SURFACE, watch, watchLive } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import type {
  EmitProgressResponse,
  GetTaskResponse,
  ListTasksResponse,
  ResolveConfirmationResponse,
  UpdateProgressResponse,
  WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, type Task, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * The contract end to end through a @grpc/grpc-js client: every semantic of DESIGN.md's
 * "Semantics from the seed", against a real server on port 0 with a throwaway SQLite file.
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

const get = async (id: string): Promise<Task> => (await t.grpc.unary<GetTaskResponse>("GetTask", { taskId: id })).task!;
const update = (req: object) => t.grpc.unary<UpdateProgressResponse>("UpdateProgress", req);
const emit = (req: object) => t.grpc.unary<EmitProgressResponse>("EmitProgress", req);

async function rejects(p: Promise<unknown>, code: status, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: { code: number; details: string }) => {
    assert.equal(err.code, code, `expected ${status[code]}, got ${status[err.code]}: ${err.details}`);
    if (pattern) assert.match(err.details, pattern);
    return true;
  });
}

/** Reads a task row through a separate connection (SQLite or PostgreSQL): what is committed, not what is cached. */
function committedRow(id: string): Promise<Record<string, unknown> | undefined> {
  return readCommittedRow(t.db, "tasks", id);
}

describe("CreateTask / GetTask / ListTasks", () => {
  it("creates a running task at progress 0 with revision 1", async () => {
    const task = await createTask(t.grpc, "alice", { label: "Downloading", kind: "model.install", checkpoint: { a: 1 } });
    assert.equal(task.status, TaskStatus.RUNNING);
    assert.equal(task.progress, 0);
    assert.equal(task.revision, 1n);
    assert.equal(task.label, "Downloading");
    assert.deepEqual(task.checkpoint, { a: 1 });
    assert.ok(task.createTime && task.updateTime && !task.endTime);
    assert.deepEqual(await get(task.id), task);
  });

  it("returns the same task for the same request_id, without a second row", async () => {
    const first = await createTask(t.grpc, "idem", { requestId: "job-42" });
    const again = await createTask(t.grpc, "idem", { requestId: "job-42", label: "other" });
    assert.equal(again.id, first.id);
    assert.equal(again.label, first.label);
    const list = await t.grpc.unary<ListTasksResponse>("ListTasks", { owner: "idem" });
    assert.equal(list.tasks.length, 1);
  });

  it("refuses a task without owner, an empty id, and unknown or malformed ids (ids are opaque: NOT_FOUND)", async () => {
    await rejects(t.grpc.unary("CreateTask", { owner: "" }), status.INVALID_ARGUMENT, /owner/);
    await rejects(t.grpc.unary("GetTask", { taskId: "t-does-not-exist" }), status.NOT_FOUND);
    await rejects(t.grpc.unary("GetTask", { taskId: "bad id with spaces" }), status.NOT_FOUND);
    await rejects(t.grpc.unary("GetTask", { taskId: "" }), status.INVALID_ARGUMENT, /task_id/);
  });

  it("lists newest first with stable, non-overlapping pages and status filters", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createTask(t.grpc, "pager")).id);
    await t.grpc.unary("CompleteTask", { taskId: ids[0] });
    const seen: string[] = [];
    let token = "";
    do {
      const page = await t.grpc.unary<ListTasksResponse>("ListTasks", { owner: "pager", pageSize: 2, pageToken: token });
      assert.ok(page.tasks.length <= 2);
      seen.push(...page.tasks.map((x) => x.id));
      token = page.nextPageToken;
    } while (token);
    assert.deepEqual(seen, [...ids].reverse());
    const done = await t.grpc.unary<ListTasksResponse>("ListTasks", { owner: "pager", statuses: [TaskStatus.SUCCEEDED] });
    assert.deepEqual(done.tasks.map((x) => x.id), [ids[0]]);
    await rejects(t.grpc.unary("ListTasks", { owner: "pager", pageToken: "garbage!" }), status.INVALID_ARGUMENT, /page_token/);
    // An owner filter no task can have (found by the fuzz run: a NUL reached the query text).
    await rejects(t.grpc.unary("ListTasks", { owner: "\u0000" }), status.INVALID_ARGUMENT, /owner/);
    await rejects(t.grpc.unary("ListTasks", { owner: "o".repeat(129) }), status.INVALID_ARGUMENT, /owner/);
    const first = await t.grpc.unary<ListTasksResponse>("ListTasks", { owner: "pager", pageSize: 2 });
    await rejects(
      t.grpc.unary("ListTasks", { owner: "someone-else", pageSize: 2, pageToken: first.nextPageToken }),
      status.INVALID_ARGUMENT,
      /other filters/,
    );
  });
});

describe("UpdateProgress (persisted)", () => {
  it("clamps into [0, 1], infinities included", async () => {
    const task = await createTask(t.grpc);
    for (const [given, stored] of [
      [1.7, 1],
      [-3, 0],
      [Infinity, 1],
      [-Infinity, 0],
      [0.25, 0.25],
    ] as const) {
      const res = await update({ taskId: task.id, progress: given });
      assert.equal(res.found, true);
      assert.equal(res.applied, true);
      assert.equal((await get(task.id)).progress, stored, `progress ${given}`);
    }
  });

  it("refuses NaN with INVALID_ARGUMENT and changes nothing", async () => {
    const task = await createTask(t.grpc);
    await rejects(update({ taskId: task.id, progress: NaN }), status.INVALID_ARGUMENT, /progress/);
    assert.deepEqual(await get(task.id), task);
    assert.equal(Number((await committedRow(task.id))!.revision), 1);
  });

  it("replaces checkpoint and label when given, keeps them when absent", async () => {
    const task = await createTask(t.grpc, "alice", { label: "first", checkpoint: { phase: "a" } });
    await update({ taskId: task.id, progress: 0.1 });
    let now = await get(task.id);
    assert.equal(now.label, "first");
    assert.deepEqual(now.checkpoint, { phase: "a" });
    await update({ taskId: task.id, progress: 0.2, label: "second", checkpoint: { phase: "b", n: 2 } });
    now = await get(task.id);
    assert.equal(now.label, "second");
    assert.deepEqual(now.checkpoint, { phase: "b", n: 2 });
    await update({ taskId: task.id, progress: 0.3, label: "" });
    assert.equal((await get(task.id)).label, "", "an explicitly empty label replaces");
    assert.equal((await get(task.id)).revision, 4n);
  });

  it("returns only after the row is committed", async () => {
    const task = await createTask(t.grpc);
    await Promise.all(Array.from({ length: 20 }, (_, i) => update({ taskId: task.id, progress: i / 100 })));
    await update({ taskId: task.id, progress: 0.77, label: "committed" });
    const row = await committedRow(task.id);
    assert.equal(row!.progress, 0.77);
    assert.equal(row!.label, "committed");
    assert.equal(Number(row!.revision), 22);
  });

  it("answers an unknown task with found=false, writes and pushes nothing", async () => {
    const w = await watchLive(t.grpc, {});
    const res = await update({ taskId: "t-unknown", progress: 0.5 });
    assert.deepEqual([res.found, res.applied, res.status], [false, false, TaskStatus.UNSPECIFIED]);
    const emitted = await emit({ taskId: "t-unknown", label: "x" });
    assert.equal(emitted.found, false);
    // Events reach a watcher in order: once a later one arrived, an earlier one would have too.
    await createTask(t.grpc, "marker");
    await w.until((e) => e.some((x) => x.event.case === "taskCreated"));
    assert.deepEqual(cases(w.events), ["taskCreated"]);
    w.cancel();
  });

  it("does not apply to a finished task", async () => {
    const task = await createTask(t.grpc);
    await t.grpc.unary("CompleteTask", { taskId: task.id });
    const before = await get(task.id);
    const res = await update({ taskId: task.id, progress: 0.5, label: "late" });
    assert.deepEqual([res.found, res.applied, res.status], [true, false, TaskStatus.SUCCEEDED]);
    assert.deepEqual(await get(task.id), before);
  });

  it("pushes a persisted progress event to the owner's watchers only", async () => {
    const mine = await watchLive(t.grpc, { owner: "pushy" });
    const theirs = await watchLive(t.grpc, { owner: "other" });
    const task = await createTask(t.grpc, "pushy");
    await update({ taskId: task.id, progress: 0.6, label: "Installing", checkpoint: { step: 3 } });
    await mine.until((e) => e.some((x) => x.event.case === "progress"));
    const p = mine.events.find((x) => x.event.case === "progress")!;
    assert.equal(p.event.case, "progress");
    if (p.event.case === "progress") {
      assert.deepEqual(
        [p.event.value.taskId, p.event.value.owner, p.event.value.progress, p.event.value.label, p.event.value.persisted],
        [task.id, "pushy", 0.6, "Installing", true],
      );
      assert.deepEqual(p.event.value.checkpoint, { step: 3 });
    }
    const marker = await createTask(t.grpc, "other");
    await theirs.until((e) => e.some((x) => x.event.case === "taskCreated"));
    assert.deepEqual(cases(theirs.events), ["taskCreated"], `nothing of pushy's before other's ${marker.id}`);
    mine.cancel();
    theirs.cancel();
  });
});

describe("EmitProgress (live, never persisted)", () => {
  it("pushes a live line and never touches the row", async () => {
    const task = await createTask(t.grpc, "emitter", { label: "Installing engine dependencies" });
    await update({ taskId: task.id, progress: 0.6 });
    const before = await get(task.id);
    const rowBefore = await committedRow(task.id);
    const w = await watchLive(t.grpc, { owner: "emitter" });
    const res = await emit({ taskId: task.id, progress: 0.6, label: "install: Collecting torch" });
    assert.deepEqual([res.found, res.status, res.cancelRequested], [true, TaskStatus.RUNNING, false]);
    await emit({ taskId: task.id, label: "install: Collecting numpy" });
    await emit({ taskId: task.id, progress: 7 });
    await w.until((e) => e.filter((x) => x.event.case === "progress").length === 3);
    const lines = w.events.flatMap((x) => (x.event.case === "progress" ? [x.event.value] : []));
    assert.deepEqual(
      lines.map((l) => [l.progress, l.label, l.persisted]),
      [
        [0.6, "install: Collecting torch", false],
        [0.6, "install: Collecting numpy", false], // progress omitted: the stored value
        [1, "Installing engine dependencies", false], // clamped; label omitted: the stored label
      ],
    );
    assert.deepEqual(await get(task.id), before);
    assert.deepEqual(await committedRow(task.id), rowBefore);
    await rejects(emit({ taskId: task.id, progress: NaN }), status.INVALID_ARGUMENT, /progress/);
    w.cancel();
  });
});

describe("RequestConfirmation / ResolveConfirmation", () => {
  it("pauses the task, holds the call, and delivers the answer", async () => {
    const task = await createTask(t.grpc, "decider");
    const w = await watchLive(t.grpc, { owner: "decider" });
    const components: ComponentInit[] = [
      ...REPLACE_SURFACE,
      { id: "note", kind: { case: "textInput", value: { label: "Note", required: true } } },
      { id: "keep_backup", kind: { case: "checkbox", value: { label: "Keep a backup", defaultValue: true } } },
      {
        id: "mode",
        kind: { case: "select", value: { label: "Mode", options: [{ value: "fast" }, { value: "safe", label: "Safe" }] } },
      },
    ];
    const held = holdConfirmation(t.grpc, { taskId: task.id, title: "Replace?", components, requestId: "r-1" });
    const [pending] = await held.waitFor(1);
    assert.equal(pending!.event.case, "pending");
    const c = pending!.event.case === "pending" ? pending!.event.value.confirmation! : assert.fail();
    assert.equal(c.state, ConfirmationState.PENDING);
    assert.equal(c.surfaceId, `confirm:${c.id}`);
    assert.equal(c.components.length, 6);
    const paused = await get(task.id);
    assert.equal(paused.status, TaskStatus.WAITING_CONFIRMATION);
    assert.equal(paused.pendingConfirmation?.id, c.id);
    await w.until((e) => e.some((x) => x.event.case === "statusChanged"));
    const waiting = w.events.find((x) => x.event.case === "statusChanged")!;
    assert.ok(waiting.event.case === "statusChanged");
    assert.equal(waiting.event.value.task!.status, TaskStatus.WAITING_CONFIRMATION);
    assert.equal(waiting.event.value.task!.pendingConfirmation?.id, c.id, "status_changed carries the pending confirmation");

    // Bad answers change nothing.
    const resolve = (req: object) => t.grpc.unary<ResolveConfirmationResponse>("ResolveConfirmation", req);
    await rejects(resolve({ confirmationId: c.id, action: "system.task.other", values: { note: "x" } }), status.INVALID_ARGUMENT, /action/);
    await rejects(resolve({ confirmationId: c.id, action: "system.task.confirm_replace" }), status.INVALID_ARGUMENT, /note.*required/);
    await rejects(
      resolve({ confirmationId: c.id, action: "system.task.confirm_replace", values: { note: "x", confirm_text: "y" } }),
      status.INVALID_ARGUMENT,
      /confirm_text/,
    );
    await rejects(
      resolve({ confirmationId: c.id, action: "system.task.confirm_replace", values: { note: "x", keep_backup: "yes" } }),
      status.INVALID_ARGUMENT,
      /keep_backup/,
    );
    await rejects(
      resolve({ confirmationId: c.id, action: "system.task.confirm_replace", values: { note: "x", mode: "turbo" } }),
      status.INVALID_ARGUMENT,
      /mode/,
    );
    await rejects(resolve({ confirmationId: "c-unknown", action: "x" }), status.NOT_FOUND);
    assert.equal(held.messages.length, 1);
    assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION);

    const answer = await resolve({
      confirmationId: c.id,
      action: "system.task.confirm_replace",
      values: { note: "overwrite it", keep_backup: false, mode: "safe" },
    });
    assert.equal(answer.confirmation!.state, ConfirmationState.ANSWERED);
    await held.done;
    assert.deepEqual(held.messages.map((m) => m.event.case), ["pending", "resolved"]);
    const r = held.messages[1]!.event;
    assert.equal(r.case, "resolved");
    if (r.case === "resolved") {
      assert.equal(r.value.confirmationId, c.id);
      assert.equal(r.value.outcome, ConfirmationState.ANSWERED);
      assert.equal(r.value.action, "system.task.confirm_replace");
      assert.deepEqual(r.value.values, { note: "overwrite it", keep_backup: false, mode: "safe" });
      assert.equal(r.value.cancelRequested, false);
    }
    const resumed = await get(task.id);
    assert.equal(resumed.status, TaskStatus.RUNNING);
    assert.equal(resumed.pendingConfirmation, undefined);
    await w.until((e) => e.some((x) => x.event.case === "confirmationResolved"));

    // The first answer won; a second is refused and changes nothing.
    await rejects(resolve({ confirmationId: c.id, action: "system.task.confirm_cancel" }), status.FAILED_PRECONDITION);
    assert.deepEqual(await get(task.id), resumed);
    w.cancel();
  });

  it("validates the surface and stores nothing for a bad one", async () => {
    const task = await createTask(t.grpc);
    const bad: [object[], RegExp][] = [
      [[], /at least one component/],
      [[REPLACE_SURFACE[0]!], /at least one button/],
      [[REPLACE_SURFACE[1]!, { ...REPLACE_SURFACE[2]!, id: "confirm_replace" }], /duplicate/],
      [[{ ...REPLACE_SURFACE[1]!, id: "" }], /id/],
      [[REPLACE_SURFACE[1]!, { id: "nokind" }], /components\[1\]/],
      [[{ id: "b", kind: { case: "button", value: { label: "no action" } } }], /action/],
      [Array.from({ length: 65 }, (_, i) => ({ ...REPLACE_SURFACE[1]!, id: `b${i}` })), /more than 64/],
    ];
    for (const [components, pattern] of bad) {
      const held = holdConfirmation(t.grpc, { taskId: task.id, title: "x", components });
      await assert.rejects(held.done, (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, pattern);
        return true;
      });
    }
    assert.deepEqual(await get(task.id), task);
  });

  it("refuses a missing task, a finished task and a second pending confirmation; re-attaches by request_id", async () => {
    const missing = holdConfirmation(t.grpc, { taskId: "t-missing", title: "x", components: REPLACE_SURFACE });
    await assert.rejects(missing.done, (e: { code: number }) => e.code === status.NOT_FOUND);

    const finished = await createTask(t.grpc);
    await t.grpc.unary("FailTask", { taskId: finished.id, errorMessage: "boom" });
    const late = holdConfirmation(t.grpc, { taskId: finished.id, title: "x", components: REPLACE_SURFACE });
    await assert.rejects(late.done, (e: { code: number }) => e.code === status.FAILED_PRECONDITION);

    const task = await createTask(t.grpc);
    const first = holdConfirmation(t.grpc, { taskId: task.id, title: "x", components: REPLACE_SURFACE, requestId: "once" });
    const [p1] = await first.waitFor(1);
    const second = holdConfirmation(t.grpc, { taskId: task.id, title: "x", components: REPLACE_SURFACE, requestId: "other" });
    await assert.rejects(second.done, (e: { code: number }) => e.code === status.FAILED_PRECONDITION);
    const again = holdConfirmation(t.grpc, { taskId: task.id, title: "x", components: REPLACE_SURFACE, requestId: "once" });
    const [p2] = await again.waitFor(1);
    const id = (m: typeof p1) => (m!.event.case === "pending" ? m!.event.value.confirmation!.id : "");
    assert.equal(id(p2), id(p1));
    await t.grpc.unary("ResolveConfirmation", { confirmationId: id(p1), action: "system.task.confirm_cancel" });
    await Promise.all([first.done, again.done]);
    for (const held of [first, again]) {
      const r = held.messages[1]!.event;
      assert.equal(r.case === "resolved" && r.value.action, "system.task.confirm_cancel", "each held call gets the answer once");
      assert.equal(held.messages.length, 2);
    }
  });

  it("cancel ends a held confirmation CANCELLED and tells the worker", async () => {
    const task = await createTask(t.grpc, "canceller");
    const held = holdConfirmation(t.grpc, { taskId: task.id, title: "x", components: REPLACE_SURFACE });
    const [p] = await held.waitFor(1);
    const cid = p!.event.case === "pending" ? p!.event.value.confirmation!.id : "";
    const cancelled = (await t.grpc.unary("CancelTask", { taskId: task.id, reason: "user pressed stop" })).task!;
    assert.equal(cancelled.status, TaskStatus.CANCELLED);
    assert.equal(cancelled.cancelRequested, true);
    assert.equal(cancelled.cancelReason, "user pressed stop");
    assert.ok(cancelled.endTime);
    await held.done;
    const r = held.messages[1]!.event;
    assert.equal(r.case, "resolved");
    if (r.case === "resolved") {
      assert.equal(r.value.outcome, ConfirmationState.CANCELLED);
      assert.equal(r.value.cancelRequested, true);
    }
    const after = await get(task.id);
    await assert.rejects(
      t.grpc.unary("ResolveConfirmation", { confirmationId: cid, action: "system.task.confirm_replace" }),
      (e: { code: number }) => e.code === status.FAILED_PRECONDITION,
    );
    const res = await update({ taskId: task.id, progress: 0.9 });
    assert.deepEqual([res.applied, res.cancelRequested, res.status], [false, true, TaskStatus.CANCELLED]);
    assert.deepEqual(await get(task.id), after);
  });
});

describe("CompleteTask / FailTask / CancelTask", () => {
  it("ends tasks and refuses changes after a terminal state", async () => {
    const a = await createTask(t.grpc);
    const done = (await t.grpc.unary("CompleteTask", { taskId: a.id, result: { artifact: "m.bin" } })).task!;
    assert.deepEqual(
      [done.status, done.progress, done.result, !!done.endTime],
      [TaskStatus.SUCCEEDED, 1, { artifact: "m.bin" }, true],
    );
    const b = await createTask(t.grpc);
    const failed = (await t.grpc.unary("FailTask", { taskId: b.id, errorMessage: "disk full", details: { free: 0 } })).task!;
    assert.deepEqual(
      [failed.status, failed.errorMessage, failed.errorDetails],
      [TaskStatus.FAILED, "disk full", { free: 0 }],
    );
    // A different terminal transition is refused (a repeat of the same one is a safe retry:
    // test/fast/leases.test.ts).
    for (const [id, calls] of [
      [a.id, [() => t.grpc.unary("CompleteTask", { taskId: a.id, result: { artifact: "other.bin" } }), () => t.grpc.unary("FailTask", { taskId: a.id, errorMessage: "again" }), () => t.grpc.unary("CancelTask", { taskId: a.id })]],
      [b.id, [() => t.grpc.unary("CompleteTask", { taskId: b.id }), () => t.grpc.unary("FailTask", { taskId: b.id, errorMessage: "again" }), () => t.grpc.unary("CancelTask", { taskId: b.id })]],
    ] as const) {
      const before = await get(id);
      for (const call of calls) await rejects(call(), status.FAILED_PRECONDITION);
      assert.deepEqual(await get(id), before);
    }
    await rejects(t.grpc.unary("CompleteTask", { taskId: "t-nope" }), status.NOT_FOUND);
  });
});

describe("WatchTasks", () => {
  it("sends snapshot, snapshot_end, then live events with strictly increasing sequences", async () => {
    const owner = "watcher-snap";
    const running = await createTask(t.grpc, owner, { label: "running one" });
    const finished = await createTask(t.grpc, owner);
    await t.grpc.unary("CompleteTask", { taskId: finished.id });
    await createTask(t.grpc, "not-mine");
    const w = watch(t.grpc, { owner, includeSnapshot: true });
    await w.until((e) => e.some((x) => x.event.case === "snapshotEnd"));
    const snap = w.events.filter((x) => x.event.case === "snapshot");
    assert.deepEqual(
      snap.map((x) => (x.event.case === "snapshot" ? x.event.value.task!.id : "")),
      [running.id],
      "only the owner's unfinished tasks",
    );
    const end = w.events.find((x) => x.event.case === "snapshotEnd")!;
    await update({ taskId: running.id, progress: 0.5 });
    const created = await createTask(t.grpc, owner);
    await t.grpc.unary("CompleteTask", { taskId: running.id });
    await w.until((e) => e.filter((x) => x.event.case === "statusChanged").length === 1);
    const live = w.events.slice(w.events.indexOf(end) + 1);
    assert.deepEqual(cases(live), ["progress", "taskCreated", "statusChanged"]);
    const seqs = live.map((x) => x.sequence);
    assert.ok(seqs[0]! > end.sequence, "live events come after the snapshot's sequence");
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, "strictly increasing");
    assert.equal(live[1]!.event.case === "taskCreated" && live[1]!.event.value.task!.id, created.id);
    w.cancel();
  });

  it("replays every persisted event after after_sequence, then goes live, without duplicates", async () => {
    const owner = "replayer";
    const task = await createTask(t.grpc, owner);
    const probe = watch(t.grpc, { owner, includeSnapshot: true });
    const [mark] = (await probe.until((e) => e.some((x) => x.event.case === "snapshotEnd"))).filter(
      (x) => x.event.case === "snapshotEnd",
    );
    probe.cancel();
    for (let i = 1; i <= 5; i++) await update({ taskId: task.id, progress: i / 10 });
    await emit({ taskId: task.id, label: "live only" });
    const w = watch(t.grpc, { owner, afterSequence: mark!.sequence });
    await w.until((e) => e.length >= 5);
    await update({ taskId: task.id, progress: 0.9 });
    await w.until((e) => e.length >= 6);
    await createTask(t.grpc, owner); // a later event: anything duplicated would come before it
    await w.until((e) => e.some((x) => x.event.case === "taskCreated"));
    assert.equal(w.events.at(-1)!.event.case, "taskCreated");
    w.events.pop();
    const progress = w.events.map((x) => (x.event.case === "progress" ? [x.event.value.progress, x.event.value.persisted] : null));
    assert.deepEqual(progress, [
      [0.1, true],
      [0.2, true],
      [0.3, true],
      [0.4, true],
      [0.5, true],
      [0.9, true],
    ], "the live line is not replayed; nothing twice");
    const seqs = w.events.map((x) => x.sequence);
    assert.deepEqual([...new Set(seqs)].length, seqs.length);
    w.cancel();
  });

  it("filters by task_ids and validates the request", async () => {
    const a = await createTask(t.grpc, "filter");
    const b = await createTask(t.grpc, "filter");
    const w = await watchLive(t.grpc, { owner: "filter", taskIds: [b.id] });
    await update({ taskId: a.id, progress: 0.3 });
    await update({ taskId: b.id, progress: 0.4 });
    await update({ taskId: a.id, progress: 0.5 });
    await update({ taskId: b.id, progress: 0.6 });
    await w.until((e) => e.length >= 2);
    assert.deepEqual(
      w.events.map((x) => (x.event.case === "progress" ? [x.event.value.taskId, x.event.value.progress] : "")),
      [[b.id, 0.4], [b.id, 0.6]],
      "a's updates, between b's, never arrive",
    );
    w.cancel();
    const bad = watch(t.grpc, { taskIds: ["has space"] });
    await bad.done;
    assert.equal((bad.error as { code: number }).code, status.INVALID_ARGUMENT);
  });
});

describe("sequence numbers", () => {
  it("are assigned once per persisted event in commit order under concurrency", async () => {
    const tasks = await Promise.all(Array.from({ length: 10 }, () => createTask(t.grpc, "seq")));
    const w = await watchLive(t.grpc, { owner: "seq" });
    await Promise.all(
      tasks.flatMap((task) => Array.from({ length: 10 }, (_, i) => update({ taskId: task.id, progress: (i + 1) / 10 }))),
    );
    await w.until((e) => e.length === 100);
    const seqs = w.events.map((e: WatchTasksResponse) => e.sequence);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1n, "gap-free and in order");
    for (const task of tasks) assert.equal((await get(task.id)).progress, 1);
    w.cancel();
  });
});
