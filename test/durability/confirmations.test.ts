import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { committedRow } from "../support/committed.js";
import {
  type ComponentInit,
  createTask,
  holdConfirmation,
  REPLACE_SURFACE,
  type RequestConfirmationRequestInit,
  retrying,
  watch,
  watchLive,
} from "../support/flows.js";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.js";
import { trackLeaks } from "../support/leaks.js";
import type { GetTaskResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Confirmations are durable: they live in their row, survive a dropped call and a server
 * restart (clean or kill -9), expire on time even when the deadline passed while the server
 * was down, and race with cancellation without corrupting anything.
 */

const leaks = trackLeaks();
let dir: string;
let grpcPort: number;
let server: ServerProcess;
let client: GrpcTestClient;

async function start(): Promise<void> {
  server = await startServerProcess({ db: join(dir, "d.sqlite"), grpcPort, args: ["--shutdown-grace-ms", "3000"] });
  // The client's channel may still be in reconnect backoff from the previous server.
  if (client) await retrying(() => client.unary("ListTasks", { pageSize: 1 }));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-durable-"));
  grpcPort = await freePort();
  await start();
  client = grpcClient(`127.0.0.1:${grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

const get = async (id: string) => (await client.unary<GetTaskResponse>("GetTask", { taskId: id })).task!;

function pendingId(held: ReturnType<typeof holdConfirmation>): string {
  const m = held.messages[0]!.event;
  return m.case === "pending" ? m.value.confirmation!.id : assert.fail("first message is not pending");
}

for (const how of ["SIGTERM", "SIGKILL"] as const) {
  describe(`restart (${how})`, () => {
    it("keeps the confirmation PENDING and lets the worker re-attach and get the answer", async () => {
      const task = await createTask(client, "durable");
      const requestId = `rq-${how}`;
      const held = holdConfirmation(client, { taskId: task.id, title: "Overwrite?", components: REPLACE_SURFACE, requestId });
      await held.waitFor(1);
      const cid = pendingId(held);
      const code = await server.kill(how);
      if (how === "SIGTERM") assert.equal(code, 0, `clean stop exits 0:\n${server.output().slice(-2000)}`);
      await assert.rejects(held.done, (e: { code: number }) => e.code === status.UNAVAILABLE || e.code === status.CANCELLED);
      await start();

      const paused = await get(task.id);
      assert.equal(paused.status, TaskStatus.WAITING_CONFIRMATION);
      assert.equal(paused.pendingConfirmation?.id, cid);
      assert.equal(paused.pendingConfirmation?.state, ConfirmationState.PENDING);
      const ui = watch(client, { owner: "durable", includeSnapshot: true });
      const snap = await ui.until((e) => e.some((x) => x.event.case === "snapshotEnd"));
      const mine = snap.find((x) => x.event.case === "snapshot" && x.event.value.task!.id === task.id)!;
      assert.equal(mine.event.case === "snapshot" && mine.event.value.task!.pendingConfirmation?.id, cid, "the UI still sees it");
      ui.cancel();

      const again = holdConfirmation(client, { taskId: task.id, title: "Overwrite?", components: REPLACE_SURFACE, requestId });
      await again.waitFor(1);
      assert.equal(pendingId(again), cid, "re-attached to the same confirmation");
      await client.unary("ResolveConfirmation", { confirmationId: cid, action: "system.task.confirm_replace" });
      await again.done;
      const r = again.messages[1]!.event;
      assert.ok(r.case === "resolved" && r.value.outcome === ConfirmationState.ANSWERED && r.value.action === "system.task.confirm_replace");
      assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
    });
  });
}

describe("answer while the worker is away", () => {
  it("delivers the answer at once when the worker calls again", async () => {
    const task = await createTask(client, "away");
    const held = holdConfirmation(client, { taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "away-1" });
    await held.waitFor(1);
    const cid = pendingId(held);
    held.call.cancel(); // the worker's connection drops
    await assert.rejects(held.done);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await get(task.id)).pendingConfirmation?.state, ConfirmationState.PENDING);
    await client.unary("ResolveConfirmation", { confirmationId: cid, action: "system.task.confirm_cancel" });
    const back = holdConfirmation(client, { taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "away-1" });
    await back.done;
    assert.deepEqual(back.messages.map((m) => m.event.case), ["pending", "resolved"]);
    const r = back.messages[1]!.event;
    assert.ok(r.case === "resolved" && r.value.action === "system.task.confirm_cancel");
  });
});

describe("expiry", () => {
  // The exact boundary (not 1 ms early) is test/fast/confirmations.test.ts, on mock timers;
  // this is the same through a real process, kept short.
  it("ends the confirmation EXPIRED at its timeout; the task resumes and watchers are told", async () => {
    const task = await createTask(client, "expiring");
    const ui = await watchLive(client, { owner: "expiring" });
    const t0 = Date.now();
    const held = holdConfirmation(client, {
      taskId: task.id,
      title: "quick",
      components: REPLACE_SURFACE,
      timeout: { seconds: 0n, nanos: 150_000_000 },
    });
    await held.done;
    const waited = Date.now() - t0;
    assert.ok(waited >= 140, `expired after ${waited} ms, before its 150 ms timeout`);
    const r = held.messages[1]!.event;
    assert.ok(r.case === "resolved" && r.value.outcome === ConfirmationState.EXPIRED);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
    await ui.until((e) => e.some((x) => x.event.case === "confirmationResolved"));
    const resolved = ui.events.find((x) => x.event.case === "confirmationResolved")!;
    assert.equal(resolved.event.case === "confirmationResolved" && resolved.event.value.confirmation!.state, ConfirmationState.EXPIRED);
    ui.cancel();
  });

  /** A confirmation whose deadline passes while the server is down (kill -9): what the re-attached worker receives. */
  async function expiredWhileDown(owner: string, request: Omit<RequestConfirmationRequestInit, "taskId" | "title">) {
    const task = await createTask(client, owner);
    const held = holdConfirmation(client, { taskId: task.id, title: "slow", timeout: { seconds: 0n, nanos: 500_000_000 }, ...request } as RequestConfirmationRequestInit);
    await held.waitFor(1);
    const cid = pendingId(held);
    const m = held.messages[0]!.event;
    const expireAt = m.case === "pending" ? Number(timestampMs(m.value.confirmation!.expireTime!)) : 0;
    await server.kill("SIGKILL");
    await assert.rejects(held.done);
    // Still pending in the database: what follows is start-up's doing, not the old server's timer.
    assert.equal((await committedRow(join(dir, "d.sqlite"), "confirmations", cid))!.state, "pending");
    // Down until the deadline has passed (the restart itself takes a while more).
    await new Promise((r) => setTimeout(r, Math.max(0, expireAt - Date.now() + 20)));
    await start();
    const deadline = Date.now() + 3000;
    while ((await get(task.id)).status !== TaskStatus.RUNNING) {
      assert.ok(Date.now() < deadline, "the overdue confirmation was not expired at start-up");
      await new Promise((r) => setTimeout(r, 20));
    }
    const back = holdConfirmation(client, { taskId: task.id, title: "slow", components: request.components, requestId: request.requestId });
    await back.done;
    const r = back.messages[1]!.event;
    assert.ok(r.case === "resolved" && r.value.confirmationId === cid);
    return r.value;
  }

  it("expires at start-up a confirmation whose deadline passed while the server was down", async () => {
    const r = await expiredWhileDown("expired-offline", { components: REPLACE_SURFACE, requestId: "offline-1" });
    assert.deepEqual([r.outcome, r.action, r.defaulted], [ConfirmationState.EXPIRED, "", false]);
  });

  it("takes the timeout_action, with its button's value, for a deadline that passed while the server was down", async () => {
    const components: ComponentInit[] = [
      ...REPLACE_SURFACE.slice(0, 1),
      { id: "keep", kind: { case: "button", value: { label: "Keep", action: "keep", value: { replace_existing: false, reason: "timeout" } } } },
      { id: "replace", kind: { case: "button", value: { label: "Replace", action: "replace", value: { replace_existing: true } } } },
    ];
    const r = await expiredWhileDown("defaulted-offline", { components, requestId: "offline-2", timeoutAction: "keep" });
    assert.deepEqual(
      [r.outcome, r.action, r.values, r.defaulted, r.answeredBy],
      [ConfirmationState.EXPIRED, "keep", { replace_existing: false, reason: "timeout" }, true, ""],
    );
    const row = (await committedRow(join(dir, "d.sqlite"), "confirmations", r.confirmationId))!;
    assert.deepEqual([row.state, row.action, Boolean(row.defaulted), row.answer_time !== null], ["expired", "keep", true, true]);
  });
});

describe("cancel versus answer", () => {
  it("an answer after cancel is FAILED_PRECONDITION and changes nothing", async () => {
    const task = await createTask(client, "racer");
    const held = holdConfirmation(client, { taskId: task.id, title: "t", components: REPLACE_SURFACE });
    await held.waitFor(1);
    const cid = pendingId(held);
    await client.unary("CancelTask", { taskId: task.id, reason: "stop" });
    const before = await get(task.id);
    await assert.rejects(
      client.unary("ResolveConfirmation", { confirmationId: cid, action: "system.task.confirm_replace" }),
      (e: { code: number }) => e.code === status.FAILED_PRECONDITION,
    );
    assert.deepEqual(await get(task.id), before);
    await held.done;
    const r = held.messages[1]!.event;
    assert.ok(r.case === "resolved" && r.value.outcome === ConfirmationState.CANCELLED && r.value.cancelRequested);
  });

  it("concurrent cancel and answer: exactly one wins, and the worker hears the winner", async () => {
    for (let round = 0; round < 20; round++) {
      const task = await createTask(client, "racer2");
      const held = holdConfirmation(client, { taskId: task.id, title: "t", components: REPLACE_SURFACE });
      await held.waitFor(1);
      const cid = pendingId(held);
      const [answer, cancel] = await Promise.allSettled([
        client.unary("ResolveConfirmation", { confirmationId: cid, action: "system.task.confirm_replace" }),
        client.unary("CancelTask", { taskId: task.id }),
      ]);
      assert.equal(cancel.status, "fulfilled", "cancel always succeeds on a waiting task");
      await held.done;
      const r = held.messages[1]!.event;
      assert.equal(r.case, "resolved");
      const outcome = r.case === "resolved" ? r.value.outcome : undefined;
      if (answer.status === "fulfilled") assert.equal(outcome, ConfirmationState.ANSWERED);
      else {
        assert.equal((answer.reason as { code: number }).code, status.FAILED_PRECONDITION);
        assert.equal(outcome, ConfirmationState.CANCELLED);
      }
      assert.equal((await get(task.id)).status, TaskStatus.CANCELLED);
    }
  });
});
