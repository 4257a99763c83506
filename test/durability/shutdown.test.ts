import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTask, holdConfirmation, REPLACE_SURFACE, retrying, watch } from "../support/flows.js";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { GetTaskResponse, UpdateProgressResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/** SIGTERM: streams end UNAVAILABLE, in-flight calls finish, writes flush, exit 0 in bounded time. */

let dir: string;
let grpcPort: number;
let server: ServerProcess;
let client: GrpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-shutdown-"));
  grpcPort = await freePort();
  server = await startServerProcess({ db: join(dir, "g.sqlite"), grpcPort, args: ["--shutdown-grace-ms", "5000"] });
  client = grpcClient(`127.0.0.1:${grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("graceful shutdown", () => {
  it("drains under load and loses nothing acknowledged", async () => {
    const tasks = await Promise.all(Array.from({ length: 20 }, () => createTask(client, "drain")));
    const waiting = tasks[0]!;
    const held = holdConfirmation(client, { taskId: waiting.id, title: "t", components: REPLACE_SURFACE, requestId: "drain-1" });
    await held.waitFor(1);
    const w = watch(client, { owner: "drain" });
    await new Promise((r) => setTimeout(r, 50));

    const acked: { taskId: string; progress: number }[] = [];
    const outcomes = new Map<string, number>();
    let stop = false;
    const lanes = tasks.slice(1).map(async (task) => {
      for (let n = 1; !stop; n++) {
        try {
          const r = await client.unary<UpdateProgressResponse>("UpdateProgress", { taskId: task.id, progress: n / 1e6 });
          if (r.applied) acked.push({ taskId: task.id, progress: n / 1e6 });
          outcomes.set("OK", (outcomes.get("OK") ?? 0) + 1);
        } catch (err) {
          const name = status[(err as { code: number }).code]!;
          outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
          return;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const code = await server.stop();
    const shutdownMs = Date.now() - t0;
    stop = true;
    await Promise.all(lanes);
    assert.equal(code, 0, server.output().slice(-2000));
    await w.done;
    assert.equal((w.error as { code: number }).code, status.UNAVAILABLE, "watch streams end UNAVAILABLE so clients resume");
    await assert.rejects(held.done, (e: { code: number }) => e.code === status.UNAVAILABLE);
    for (const name of outcomes.keys()) assert.ok(["OK", "UNAVAILABLE"].includes(name), `unexpected ${name}`);

    server = await startServerProcess({ db: join(dir, "g.sqlite"), grpcPort });
    const last = new Map<string, number>();
    for (const a of acked) last.set(a.taskId, Math.max(last.get(a.taskId) ?? 0, a.progress));
    for (const [taskId, progress] of last) {
      const row = (await retrying(() => client.unary<GetTaskResponse>("GetTask", { taskId }))).task!;
      assert.ok(row.progress >= progress, `task ${taskId}: acknowledged ${progress}, stored ${row.progress}`);
    }
    const paused = (await client.unary<GetTaskResponse>("GetTask", { taskId: waiting.id })).task!;
    assert.equal(paused.status, TaskStatus.WAITING_CONFIRMATION);
    assert.equal(paused.pendingConfirmation?.state, ConfirmationState.PENDING, "held confirmations stay PENDING");
    console.log(
      `# graceful shutdown: exit 0 after ${shutdownMs} ms under load; ${acked.length} updates acknowledged, all present; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
  });
});
