import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTask, retrying } from "../support/flows.js";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { GetTaskResponse, UpdateProgressResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** kill -9 under sustained UpdateProgress load: every acknowledged update is there after restart. */

/** A bookmark marks the end of the replay (the stream went idle). */
const BOOKMARKS = ["--bookmark-interval-ms", "300"];
let dir: string;
let grpcPort: number;
let server: ServerProcess;
let client: GrpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-crash-"));
  grpcPort = await freePort();
  server = await startServerProcess({ db: join(dir, "c.sqlite"), grpcPort, args: BOOKMARKS });
  client = grpcClient(`127.0.0.1:${grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("crash safety", () => {
  it("keeps every acknowledged UpdateProgress across kill -9", async () => {
    const tasks = await Promise.all(Array.from({ length: 40 }, () => createTask(client, "crash")));
    const acked = new Map<string, number[]>(tasks.map((t) => [t.id, []]));
    let stop = false;
    let sent = 0;
    const lanes = Array.from({ length: 64 }, async (_, lane) => {
      for (let n = 1; !stop; n++) {
        const task = tasks[(lane + n) % tasks.length]!;
        const value = Number(`0.${String(lane).padStart(2, "0")}${String(n).padStart(6, "0")}`);
        sent++;
        try {
          const res = await client.unary<UpdateProgressResponse>("UpdateProgress", { taskId: task.id, progress: value, label: `l${lane}n${n}` });
          if (res.applied) acked.get(task.id)!.push(value);
        } catch {
          return; // the server died under this call: not acknowledged
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    await server.kill("SIGKILL");
    stop = true;
    await Promise.all(lanes);
    const ackedCount = [...acked.values()].reduce((a, v) => a + v.length, 0);
    assert.ok(ackedCount > 500, `only ${ackedCount} updates acknowledged before the kill`);

    server = await startServerProcess({ db: join(dir, "c.sqlite"), grpcPort, args: BOOKMARKS });
    await retrying(() => client.unary("ListTasks", { pageSize: 1 })); // past the channel's reconnect backoff
    // Every acknowledged update has its event in the log...
    const logged = new Map<string, Set<number>>();
    const { responses, call } = client.serverStream<WatchTasksResponse>("WatchTasks", { owner: "crash", afterSequence: 0n });
    let persisted = 0;
    for await (const e of responses) {
      if (e.event.case === "progress" && e.event.value.persisted) {
        persisted++;
        const set = logged.get(e.event.value.taskId) ?? new Set();
        set.add(e.event.value.progress);
        logged.set(e.event.value.taskId, set);
      }
      if (e.event.case === "bookmark") break;
    }
    call.cancel();
    let missing = 0;
    for (const [taskId, values] of acked) for (const v of values) if (!logged.get(taskId)?.has(v)) missing++;
    assert.equal(missing, 0, `${missing} of ${ackedCount} acknowledged updates lost`);
    // ...and each row holds its task's last committed update (per lane values only grow).
    for (const task of tasks) {
      const row = (await client.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!;
      assert.ok(logged.get(task.id)?.has(row.progress), `row ${task.id} holds a value that was never logged`);
    }
    console.log(`# crash safety: ${sent} sent, ${ackedCount} acknowledged before kill -9, ${persisted} persisted events replayed, 0 lost`);
  });
});
