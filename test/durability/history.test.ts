import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTask, isPersisted, retrying } from "../support/flows.js";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { GetTaskResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A history checker in the etcd/Kubernetes sense: workers update many tasks while watchers
 * disconnect and resume at random points, across a server restart. Afterwards each
 * watcher's persisted events, stitched across its resumes, must be exactly the event log's
 * events for its owner: strictly increasing, gap-free, no duplicates; and each task's last
 * persisted value must equal its row.
 */

const OWNERS = ["h-ann", "h-bob"];
let dir: string;
let grpcPort: number;
let server: ServerProcess;
let client: GrpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-history-"));
  grpcPort = await freePort();
  server = await startServerProcess({ db: join(dir, "h.sqlite"), grpcPort });
  client = grpcClient(`127.0.0.1:${grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A watcher that keeps dropping its stream and resuming from the last sequence it saw. */
function flakyWatcher(owner: string, stop: { done: boolean }, seed: number) {
  const seen: WatchTasksResponse[] = [];
  let last = 0n;
  let rnd = seed;
  const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let resumes = 0;
  const run = (async () => {
    while (!stop.done) {
      const { responses, call } = client.serverStream<WatchTasksResponse>("WatchTasks", { owner, afterSequence: last });
      const cut = setTimeout(() => call.cancel(), 30 + random() * 250);
      try {
        for await (const e of responses) {
          if (!isPersisted(e)) continue;
          seen.push(e);
          last = e.sequence;
        }
      } catch {
        resumes++;
      } finally {
        clearTimeout(cut);
      }
      await sleep(random() * 40);
    }
    // Final catch-up: everything up to now.
    const { responses, call } = client.serverStream<WatchTasksResponse>("WatchTasks", { owner, afterSequence: last });
    setTimeout(() => call.cancel(), 500);
    try {
      for await (const e of responses) if (isPersisted(e)) (seen.push(e), (last = e.sequence));
    } catch {
      // cancelled after catching up
    }
  })();
  return { seen, run, resumes: () => resumes };
}

describe("history checker", () => {
  it("every watcher's stitched history equals the log; every task's row equals its last event", async () => {
    const stop = { done: false };
    const watchers = OWNERS.flatMap((o, i) => [flakyWatcher(o, stop, 7 + i), flakyWatcher(o, stop, 1000 + i)]);
    const tasks = await Promise.all(Array.from({ length: 12 }, (_, i) => createTask(client, OWNERS[i % 2]!)));
    let restarted = false;
    const workers = tasks.map(async (task, w) => {
      for (let step = 1; step <= 60; step++) {
        await retrying(() => client.unary("UpdateProgress", { taskId: task.id, progress: step / 60, label: `w${w} s${step}` }));
        if (step % 7 === 0) await retrying(() => client.unary("EmitProgress", { taskId: task.id, label: "live" }));
        await sleep(3);
      }
    });
    const restart = (async () => {
      await sleep(500);
      await server.stop();
      server = await startServerProcess({ db: join(dir, "h.sqlite"), grpcPort });
      await retrying(() => client.unary("ListTasks", { pageSize: 1 }));
      restarted = true;
    })();
    await Promise.all([...workers, restart]);
    await sleep(200);
    stop.done = true;
    await Promise.all(watchers.map((w) => w.run));
    assert.ok(restarted);

    // The truth: the whole event log, replayed once per owner.
    let checked = 0;
    for (const owner of OWNERS) {
      const log: WatchTasksResponse[] = [];
      const { responses, call } = client.serverStream<WatchTasksResponse>("WatchTasks", { owner, afterSequence: 0n });
      setTimeout(() => call.cancel(), 1000);
      try {
        for await (const e of responses) if (isPersisted(e)) log.push(e);
      } catch {
        // cancelled
      }
      const expected = log.map((e) => e.sequence);
      assert.ok(expected.length >= 6 * 61, `log for ${owner} has ${expected.length} events`);
      for (const w of watchers.filter((_, i) => OWNERS[Math.floor(i / 2)] === owner)) {
        const got = w.seen.map((e) => e.sequence);
        for (let i = 1; i < got.length; i++) assert.ok(got[i]! > got[i - 1]!, `not strictly increasing at ${i}`);
        assert.deepEqual(got, expected, "stitched history differs from the log (gap or duplicate)");
        assert.ok(w.resumes() > 3, "the watcher really did drop and resume");
        checked += got.length;
      }
      // Each task's final row equals its last persisted progress event.
      for (const task of tasks.filter((x) => x.owner === owner)) {
        const last = [...log].reverse().find((e) => e.event.case === "progress" && e.event.value.taskId === task.id)!;
        const row = (await client.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!;
        assert.ok(last.event.case === "progress");
        if (last.event.case === "progress") {
          assert.deepEqual([row.progress, row.label], [last.event.value.progress, last.event.value.label]);
        }
        assert.equal(row.progress, 1);
      }
    }
    console.log(`# history checker: ${checked} watcher events checked against the log, ${watchers.map((w) => w.resumes()).join("/")} resumes`);
  });
});
