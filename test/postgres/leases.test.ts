import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { watchLive } from "../support/flows.js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTestDatabase, probePostgres, type TestDatabase } from "../support/pg.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { ClaimTaskResponse, CreateTaskResponse, GetTaskResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
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
});
