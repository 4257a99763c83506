import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { watchLive } from "../support/flows.js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTestDatabase, probePostgres, type TestDatabase } from "../support/pg.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { ClaimTaskResponse, CompleteTaskResponse, CreateTaskResponse, GetTaskResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Leases on two replicas of one PostgreSQL (child processes): the worker's heartbeats reach
 * one replica only and the other never lapses the lease meanwhile (the persisted expiry is
 * renewed); when the worker goes silent both replicas' timers come due and the log holds one
 * STALLED event only; a claim on one replica fences the old attempt on the other.
 */

const probe = await probePostgres();
const LEASE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("leases on two PostgreSQL replicas", { skip: probe.ok ? false : probe.reason }, () => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];
  let a: GrpcTestClient;
  let b: GrpcTestClient;
  before(async () => {
    database = await createTestDatabase();
    servers = await Promise.all([0, 1].map(() => startServerProcess({ db: database.url, args: ["--log-level", "warn"] })));
    [a, b] = servers.map((s) => grpcClient(s.grpcAddress)) as [GrpcTestClient, GrpcTestClient];
  });
  after(async () => {
    a?.close();
    b?.close();
    await Promise.all(servers.map((s) => s.stop()));
    await database?.drop();
  });

  const stalledEvents = async (taskId: string) =>
    database.query<{ sequence: string }>(
      "select sequence from events where task_id = $1 and type = 'status_changed' and payload::json -> 'task' ->> 'status' = 'stalled'",
      [taskId],
    );

  it("heartbeats on one replica keep it running on both; silence stalls it once, whichever replica notices", async () => {
    const task = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-lease", leaseDuration: { seconds: 2n, nanos: 0 } })).task!;
    const watchers = await Promise.all([watchLive(a, { owner: "pg-lease" }), watchLive(b, { owner: "pg-lease" })]);
    for (let i = 0; i < 12; i++) {
      await sleep(LEASE_MS / 4);
      await a.unary("Heartbeat", { taskId: task.id, attempt: 1n });
    }
    // Three leases of heartbeats seen by replica a alone: b never lapsed it.
    assert.equal((await b.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!.status, TaskStatus.RUNNING);
    assert.deepEqual(await stalledEvents(task.id), []);
    const isStalled = (e: WatchTasksResponse[]) =>
      e.some((x) => x.event.case === "statusChanged" && x.event.value.task!.status === TaskStatus.STALLED);
    await Promise.all(watchers.map((w) => w.until(isStalled, LEASE_MS + 3000)));
    await sleep(1000); // a second lapse, if one were made, would have committed by now
    assert.equal((await stalledEvents(task.id)).length, 1, "one stall event only");
    for (const w of watchers) {
      const seen = w.events.filter((x) => x.event.case === "statusChanged" && x.event.value.task!.status === TaskStatus.STALLED);
      assert.equal(seen.length, 1, "each watcher saw one stall");
      w.cancel();
    }
  });

  it("a claim on one replica fences the old attempt on the other; the same request_id is the same claim", async () => {
    const task = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-claim", leaseDuration: { seconds: 30n, nanos: 0 } })).task!;
    await a.unary("UpdateProgress", { taskId: task.id, progress: 0.4, attempt: 1n });
    const claimed = (await b.unary<ClaimTaskResponse>("ClaimTask", { taskId: task.id, requestId: "sup-1" })).task!;
    assert.equal(claimed.attempt, 2n);
    const again = (await a.unary<ClaimTaskResponse>("ClaimTask", { taskId: task.id, requestId: "sup-1" })).task!;
    assert.equal(again.attempt, 2n);
    const refused = await a.unary("UpdateProgress", { taskId: task.id, progress: 0.9, attempt: 1n }).then(
      () => assert.fail("the old attempt's update was applied"),
      (err: { code: number }) => err,
    );
    assert.equal(refused.code, status.FAILED_PRECONDITION);
    const row = (await b.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!;
    assert.deepEqual([row.progress, row.attempt], [0.4, 2n]);
  });

  it("a terminal call retried on the other replica is OK with no new event; a cancel on one reaches a worker's watch on the other", async () => {
    const done = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-retry" })).task!;
    const first = (await a.unary<CompleteTaskResponse>("CompleteTask", { taskId: done.id, result: { n: 1 } })).task!;
    const events = (await database.query("select sequence from events where task_id = $1", [done.id])).length;
    const retried = (await b.unary<CompleteTaskResponse>("CompleteTask", { taskId: done.id, result: { n: 1 } })).task!;
    assert.equal(retried.revision, first.revision);
    assert.equal((await database.query("select sequence from events where task_id = $1", [done.id])).length, events);
    const failed = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-retry" })).task!;
    await a.unary("FailTask", { taskId: failed.id, errorMessage: "boom" });
    await b.unary("FailTask", { taskId: failed.id, errorMessage: "boom" });

    const running = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-retry", leaseDuration: { seconds: 30n, nanos: 0 } })).task!;
    const workerWatch = await watchLive(a, { taskIds: [running.id] });
    await b.unary("CancelTask", { taskId: running.id, reason: "stop it" });
    await b.unary("CancelTask", { taskId: running.id, reason: "stop it" });
    const seen = await workerWatch.until((e) => e.some((x) => x.event.case === "statusChanged"), 3000);
    const ev = seen.find((x) => x.event.case === "statusChanged")!;
    assert.ok(ev.event.case === "statusChanged");
    assert.deepEqual([ev.event.value.task!.status, ev.event.value.task!.cancelReason], [TaskStatus.CANCELLED, "stop it"]);
    await sleep(300);
    assert.equal(workerWatch.events.filter((x) => x.event.case === "statusChanged").length, 1, "the retried cancel made no second event");
    workerWatch.cancel();
  });
});

describe("a restart of both replicas across a lapsed lease", { skip: probe.ok ? false : probe.reason }, () => {
  it("gives the lease its grace from start-up, then stalls it once", async () => {
    const database = await createTestDatabase();
    const start = () => Promise.all([0, 1].map(() => startServerProcess({ db: database.url, args: ["--log-level", "warn"] })));
    let servers = await start();
    try {
      const a = grpcClient(servers[0]!.grpcAddress);
      const task = (await a.unary<CreateTaskResponse>("CreateTask", { owner: "pg-restart", leaseDuration: { seconds: 2n, nanos: 0 } })).task!;
      a.close();
      await Promise.all(servers.map((s) => s.stop()));
      await sleep(LEASE_MS + 1000); // the lease lapses while no replica runs
      // Each replica's grace runs from its own start-up, which is after this point.
      const started = Date.now();
      servers = await start();
      const clients = servers.map((s) => grpcClient(s.grpcAddress));
      try {
        assert.equal((await clients[1]!.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!.status, TaskStatus.RUNNING, "grace");
        const w = await watchLive(clients[1]!, { owner: "pg-restart" });
        await w.until((e) => e.some((x) => x.event.case === "statusChanged" && x.event.value.task!.status === TaskStatus.STALLED), LEASE_MS + 4000);
        const waited = Date.now() - started;
        assert.ok(waited >= LEASE_MS - 250, `stalled ${waited} ms after start-up, within the grace`);
        await sleep(1000);
        const stalled = await database.query(
          "select sequence from events where task_id = $1 and type = 'status_changed' and payload::json -> 'task' ->> 'status' = 'stalled'",
          [task.id],
        );
        assert.equal(stalled.length, 1, "one stall event only");
        w.cancel();
      } finally {
        for (const c of clients) c.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await database.drop();
    }
  });
});
