import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTask, isPersisted, watch } from "../support/flows.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import type { StreamProgressResponse, WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A watcher replays a log far larger than its queue (after_sequence=0) while a worker keeps
 * writing. It reads as fast as it can, so it must catch up and go live, never be cut off;
 * and were it cut off, the resume point it is told must be the last sequence it received
 * (not 0, which would send a client that follows the message back to the start forever).
 */

const QUEUE = 500;
const LOG = 30_000;
const OWNER = "replayer";
let dir: string;
let server: ServerProcess;
let worker: GrpcTestClient;
let reader: GrpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-replay-"));
  server = await startServerProcess({ db: join(dir, "r.sqlite"), args: ["--watch-queue", String(QUEUE)] });
  worker = grpcClient(server.grpcAddress);
  reader = grpcClient(server.grpcAddress);
});
after(async () => {
  for (const c of [worker, reader]) c.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function* updates(taskIds: string[], count: number, pauseEvery = 0) {
  for (let i = 0; i < count; i++) {
    if (pauseEvery > 0 && i % pauseEvery === 0) await sleep(10);
    yield { message: { case: "update" as const, value: { taskId: taskIds[i % taskIds.length]!, progress: (i % 100) / 100, label: `u${i}` } } };
  }
}

describe("replay under concurrent writes", () => {
  it("a reading watcher replays a large log while writes go on, catches up, and is never sent back to 0", async () => {
    const tasks = (await Promise.all(Array.from({ length: 20 }, () => createTask(worker, OWNER)))).map((t) => t.id);
    const filled = await worker.clientStream<StreamProgressResponse>("StreamProgress", updates(tasks, LOG));
    assert.equal(Number(filled.updated), LOG);

    // Writes keep coming (about 1,000 a second) while the watcher replays from the start.
    let writing = true;
    const writes = (async () => {
      let n = 0;
      while (writing) {
        const r = await worker.clientStream<StreamProgressResponse>("StreamProgress", updates(tasks, 100, 10));
        n += Number(r.updated);
      }
      return n;
    })();
    const seen: WatchTasksResponse[] = [];
    const { responses, call } = reader.serverStream<WatchTasksResponse>("WatchTasks", { owner: OWNER, afterSequence: 0n });
    let end: { code?: number; details?: string } | undefined;
    const reading = (async () => {
      for await (const e of responses) if (isPersisted(e)) seen.push(e);
    })().catch((err: { code?: number; details?: string }) => (end = err));
    await sleep(4000);
    writing = false;
    const written = await writes;

    // Where the log ends now: a snapshot reflects it.
    const probe = watch(reader, { owner: OWNER, includeSnapshot: true });
    const [mark] = (await probe.until((es) => es.some((e) => e.event.case === "snapshotEnd"))).filter((e) => e.event.case === "snapshotEnd");
    probe.cancel();
    const deadline = Date.now() + 30_000;
    while (end === undefined && (seen.at(-1)?.sequence ?? 0n) < mark!.sequence && Date.now() < deadline) await sleep(50);
    call.cancel();
    await reading;

    const last = seen.at(-1)?.sequence ?? 0n;
    console.log(
      `# replay: ${LOG} in the log + ${written} written during the replay; watcher got ${seen.length} persisted events, ` +
        `last ${last} of ${mark!.sequence}; ended ${end ? `${end.code} ${end.details}` : "by the client"}`,
    );
    if (end?.code === 8) {
      assert.match(end.details ?? "", new RegExp(`after_sequence=${last}\\b`), `the resume point is the last sequence received (${last})`);
    }
    assert.equal(end?.code ?? 1, 1, `the reading watcher was not cut off: ${end?.details}`);
    assert.equal(last, mark!.sequence, "it caught up with the log");
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.sequence > seen[i - 1]!.sequence, "strictly increasing, no duplicate");
    assert.equal(seen.length, tasks.length + LOG + written, "every persisted event of the owner (creations and updates), once");
  });
});
