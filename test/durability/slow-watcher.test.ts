import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTask } from "../support/flows.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { rawServerStream } from "../support/raw-grpc.js";
import {
  type StreamProgressResponse,
  type WatchTasksResponse,
  WatchTasksRequestSchema,
  WatchTasksResponseSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A watcher that never reads while 100k live lines and 10k persisted updates flow: the
 * other watcher still gets every persisted event, the server's memory stays bounded, and the
 * slow stream ends RESOURCE_EXHAUSTED naming the last sequence it was given.
 */

/** Above one commit batch (2,000 mutations) with room for a busy reader, below the 10,000 sent. */
const QUEUE = 6000;
/** About 1 KiB per persisted event, so 10k of them outgrow any flow-control window. */
const CHECKPOINT = { phase: "flood", note: "x".repeat(1000) };
let dir: string;
let server: ServerProcess;
let worker: GrpcTestClient;
let fastClient: GrpcTestClient;

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-slow-"));
  server = await startServerProcess({ db: join(dir, "s.sqlite"), args: ["--watch-queue", String(QUEUE)] });
  worker = grpcClient(server.grpcAddress);
  fastClient = grpcClient(server.grpcAddress);
});
after(async () => {
  for (const c of [worker, fastClient]) c.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("slow watcher", () => {
  it("is cut off with RESOURCE_EXHAUSTED while the others keep up and memory stays bounded", async () => {
    const tasks = await Promise.all(Array.from({ length: 100 }, () => createTask(worker, "flood")));
    // Never reads: a peer whose HTTP/2 window fills up.
    const slow = rawServerStream(
      server.grpcAddress,
      "/taskcontrol.v1.TaskControlService/WatchTasks",
      WatchTasksRequestSchema,
      WatchTasksResponseSchema,
      { owner: "flood" },
    );
    const fast = fastClient.serverStream<WatchTasksResponse>("WatchTasks", { owner: "flood" });
    let fastError: unknown;
    let fastPersisted = 0;
    let fastLive = 0;
    const latencies: number[] = [];
    const fastDone = (async () => {
      for await (const e of fast.responses) {
        if (e.event.case !== "progress") continue;
        if (!e.event.value.persisted) {
          fastLive++;
          continue;
        }
        fastPersisted++;
        latencies.push(Date.now() - Number(e.event.value.label.slice(2)));
      }
    })().catch((err) => (fastError = err));
    await new Promise((r) => setTimeout(r, 200));

    const pid = server.child.pid!;
    const baseline = rssKiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 50);
    const UPDATES = 10_000;
    const EMITS = 100_000;
    // Paced at about 20,000 messages/s: the reading watcher shares this process and its core.
    async function* messages(part: number, parts: number) {
      for (let i = part; i < UPDATES + EMITS; i += parts) {
        if (i % 400 < parts) await new Promise((r) => setTimeout(r, 20));
        const taskId = tasks[i % tasks.length]!.id;
        // Every 11th message is a persisted update; the label carries the send time.
        if (i % 11 === 0) {
          yield { message: { case: "update" as const, value: { taskId, progress: (i % 1000) / 1000, label: `t=${Date.now()}`, checkpoint: CHECKPOINT } } };
        }
        else yield { message: { case: "emit" as const, value: { taskId, label: `line ${i}` } } };
      }
    }
    const t0 = Date.now();
    const results = await Promise.all(
      [0, 1, 2, 3].map((p) => worker.clientStream<StreamProgressResponse>("StreamProgress", messages(p, 4))),
    );
    const floodMs = Date.now() - t0;
    const updated = results.reduce((a, r) => a + Number(r.updated), 0);
    const emitted = results.reduce((a, r) => a + Number(r.emitted), 0);
    assert.equal(updated, UPDATES);
    assert.equal(emitted, EMITS);

    const deadline = Date.now() + 10_000;
    while (fastPersisted < UPDATES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    clearInterval(sampler);
    assert.equal(fastError, undefined, "the reading watcher is never cut off");
    assert.equal(fastPersisted, UPDATES, "the reading watcher got every persisted event");

    // Now read the slow stream: what was buffered, then the end naming where to resume.
    slow.resume();
    const guard = setTimeout(() => slow.close(), 15_000);
    const end = await slow.done;
    clearTimeout(guard);
    const persistedSeqs = slow.messages
      .filter((e) => !(e.event.case === "progress" && !e.event.value.persisted))
      .map((e) => e.sequence);
    const lastSeq = persistedSeqs[persistedSeqs.length - 1] ?? 0n;
    const received = slow.messages.length;
    assert.equal(end.status, status.RESOURCE_EXHAUSTED, `slow stream ended ${end.status}: ${end.message}`);
    assert.match(end.message, new RegExp(`after_sequence=${lastSeq}\\b`), `it names the last sequence the client got (${lastSeq})`);
    assert.ok(received < UPDATES, `the slow watcher was cut off (${received} events), not fed everything`);
    slow.close();
    fast.call.cancel();
    await fastDone;

    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    const growthMiB = (peak - baseline) / 1024;
    console.log(
      `# slow watcher: ${UPDATES} updates + ${EMITS} emits in ${floodMs} ms; fast watcher got ${fastPersisted} persisted + ${fastLive} coalesced live, ` +
        `delivery p50 ${p(0.5)} ms p99 ${p(0.99)} ms; server RSS ${Math.round(baseline / 1024)} → peak ${Math.round(peak / 1024)} MiB (+${growthMiB.toFixed(1)}); ` +
        `slow stream got ${received} events then RESOURCE_EXHAUSTED at ${lastSeq}`,
    );
    assert.ok(growthMiB < 256, `server memory grew by ${growthMiB.toFixed(1)} MiB`);
  });
});
