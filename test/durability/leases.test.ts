import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { watchLive } from "../support/flows.js";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { CreateTaskResponse, GetTaskResponse, HeartbeatResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Leases across a restart of a real server process on SQLite: a lease that lapsed while the
 * server was down gets a grace of its own duration from start-up (the worker could not reach
 * a stopped server), then goes STALLED; a worker that calls within the grace keeps it.
 */

const LEASE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stalledOf = (events: WatchTasksResponse[], id: string) =>
  events.filter((e) => e.event.case === "statusChanged" && e.event.value.task!.id === id && e.event.value.task!.status === TaskStatus.STALLED);

let dir: string;
let grpcPort: number;
let server: ServerProcess;
let client: GrpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-leases-"));
  grpcPort = await freePort();
  server = await startServerProcess({ db: join(dir, "l.sqlite"), grpcPort, args: ["--log-level", "warn"] });
  client = grpcClient(`127.0.0.1:${grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a restart across a lapsed lease", () => {
  it("gives every running lease a grace of its duration from start-up, then stalls the silent ones", async () => {
    const lease = { seconds: BigInt(LEASE_MS / 1000), nanos: 0 };
    const silent = (await client.unary<CreateTaskResponse>("CreateTask", { owner: "restart", leaseDuration: lease })).task!;
    const beating = (await client.unary<CreateTaskResponse>("CreateTask", { owner: "restart", leaseDuration: lease })).task!;
    assert.equal(await server.stop(), 0);
    await sleep(LEASE_MS + 1000); // both leases lapse while the server is down
    server = await startServerProcess({ db: join(dir, "l.sqlite"), grpcPort, args: ["--log-level", "warn"] });
    const started = Date.now();
    const ui = await watchLive(client, { owner: "restart" });
    const get = async (id: string) => (await client.unary<GetTaskResponse>("GetTask", { taskId: id })).task!;
    assert.equal((await get(silent.id)).status, TaskStatus.RUNNING, "no lapse right after start-up");
    // The worker of `beating` reaches the restarted server within the grace.
    const hb = await client.unary<HeartbeatResponse>("Heartbeat", { taskId: beating.id, attempt: 1n });
    assert.equal(hb.status, TaskStatus.RUNNING);
    // ... and keeps beating, as a worker does (every lease/4): its one heartbeat's lease would
    // otherwise run out only as long after the grace as that heartbeat came after start-up,
    // a few tens of milliseconds that the checks below could outlast on a busy machine.
    const beat = setInterval(() => void client.unary("Heartbeat", { taskId: beating.id, attempt: 1n }).catch(() => undefined), LEASE_MS / 4);
    try {
      await ui.until((e) => stalledOf(e, silent.id).length > 0, LEASE_MS + 3000);
      const waited = Date.now() - started;
      assert.ok(waited >= LEASE_MS - 250, `stalled ${waited} ms after start-up, before the grace of ${LEASE_MS} ms`);
      assert.ok(waited <= LEASE_MS + 1000, `stalled ${waited} ms after start-up: later than lease + 1 s`);
      assert.equal((await get(silent.id)).status, TaskStatus.STALLED);
      assert.equal((await get(beating.id)).status, TaskStatus.RUNNING, "the heartbeat within the grace kept it");
      assert.equal(stalledOf(ui.events, beating.id).length, 0);
    } finally {
      clearInterval(beat);
    }
    ui.cancel();
  });
});
