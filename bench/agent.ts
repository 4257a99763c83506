/**
 * A client-side helper process of the benchmark (forked by bench/run.ts with an IPC channel):
 * it holds many streams so that the measuring process never becomes the bottleneck.
 *
 * Operations (one JSON request, one JSON answer):
 *   watch        open `count` WatchTasks streams on `owner` over `connections` HTTP/2
 *                connections; answers once every stream received snapshot_end (the server
 *                has subscribed it). Progress events whose label starts with `${tag}:` are
 *                timed: label = `${tag}:${seq}:${sendTimeMs}`, latency = receipt - send.
 *   confirm      open one held RequestConfirmation per task id; answers when all are pending.
 *   bullListen   open `count` BullMQ QueueEvents listeners on `queue`; progress data
 *                {tag, seq, t} is timed the same way.
 *   received     the timed receipts since the last report (without resetting anything).
 *   report       latencies and counts since the last report (then resets them).
 *   closeAll     cancels every stream, closes channels and listeners.
 */
import { QueueEvents } from "bullmq";
import type * as grpc from "@grpc/grpc-js";
import { grpcClient, type GrpcTestClient } from "../test/support/grpc-client.js";
import type { RequestConfirmationResponse, WatchTasksResponse } from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { nowMs } from "./lib.js";

const name = process.argv[2] ?? "agent";

let clients: GrpcTestClient[] = [];
let calls: grpc.ClientReadableStream<unknown>[] = [];
let listeners: QueueEvents[] = [];
let latencies: number[] = [];
let bySeq: number[] = [];
let received = 0;
let perStream = new Map<number, number>();
let errors = 0;
let firstError = "";
let closing = false;

function noteError(err: unknown): void {
  if (closing) return;
  const e = err as { code?: number; details?: string; message?: string };
  if (e.code === 1) return; // CANCELLED: ours
  errors++;
  firstError ||= `${e.code ?? ""} ${e.details ?? e.message ?? String(err)}`;
}

function openClients(address: string, connections: number): GrpcTestClient[] {
  return Array.from({ length: Math.max(1, connections) }, () =>
    grpcClient(address, {
      channelOptions: {
        // A connection of its own (channels with equal options would share one).
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_receive_message_length": 8 * 1024 * 1024,
      },
    }),
  );
}

async function inChunks<T>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)));
  }
}

async function watch(c: { address: string; owner: string; count: number; connections: number; tag: string }) {
  const mine = openClients(c.address, c.connections);
  clients.push(...mine);
  const prefix = `${c.tag}:`;
  const base = calls.length;
  await inChunks(
    Array.from({ length: c.count }, (_, i) => i),
    500,
    (i) =>
      new Promise<void>((ready, fail) => {
        const client = mine[i % mine.length]!;
        const { call } = client.serverStream<WatchTasksResponse>("WatchTasks", { owner: c.owner, includeSnapshot: true });
        const id = base + i;
        calls.push(call as grpc.ClientReadableStream<unknown>);
        let isReady = false;
        call.on("data", (msg: WatchTasksResponse) => {
          const at = nowMs();
          if (msg.event.case === "snapshotEnd" && !isReady) {
            isReady = true;
            ready();
            return;
          }
          if (msg.event.case === "progress" && msg.event.value.label.startsWith(prefix)) {
            const label = msg.event.value.label;
            const t = Number(label.slice(label.lastIndexOf(":") + 1));
            latencies.push(at - t);
            const seq = Number(label.slice(prefix.length, label.lastIndexOf(":")));
            bySeq[seq] = Math.max(bySeq[seq] ?? 0, at - t);
            received++;
            perStream.set(id, (perStream.get(id) ?? 0) + 1);
          }
        });
        call.on("error", (err) => {
          noteError(err);
          if (!isReady) fail(err);
        });
      }),
  );
  return { opened: c.count };
}

async function confirm(c: { address: string; taskIds: string[]; connections: number; tag: string }) {
  const mine = openClients(c.address, c.connections);
  clients.push(...mine);
  let pending = 0;
  await inChunks(c.taskIds, 500, (taskId, i) =>
    new Promise<void>((ready, fail) => {
      const client = mine[i % mine.length]!;
      const { call } = client.serverStream<RequestConfirmationResponse>("RequestConfirmation", {
        taskId,
        title: "bench: hold",
        requestId: `${c.tag}-${taskId}`,
        components: [
          { id: "msg", kind: { case: "text", value: { text: "held by the benchmark" } } },
          { id: "ok", kind: { case: "button", value: { label: "OK", action: "ok" } } },
        ],
      });
      calls.push(call as grpc.ClientReadableStream<unknown>);
      let isReady = false;
      call.on("data", (msg: RequestConfirmationResponse) => {
        if (msg.event.case === "pending" && !isReady) {
          isReady = true;
          pending++;
          ready();
        }
      });
      call.on("error", (err) => {
        noteError(err);
        if (!isReady) fail(err);
      });
    }),
  );
  return { pending };
}

async function bullListen(c: { queue: string; count: number; tag: string; redis: { host: string; port: number } }) {
  const mine = Array.from(
    { length: c.count },
    () => new QueueEvents(c.queue, { connection: { host: c.redis.host, port: c.redis.port, maxRetriesPerRequest: null } }),
  );
  listeners.push(...mine);
  mine.forEach((qe, id) => {
    qe.on("progress", ({ data }: { data: unknown }) => {
      const at = nowMs();
      const d = data as { tag?: string; t?: number };
      if (d && typeof d === "object" && d.tag === c.tag && typeof d.t === "number") {
        latencies.push(at - d.t);
        received++;
        perStream.set(id, (perStream.get(id) ?? 0) + 1);
      }
    });
    qe.on("error", noteError);
  });
  await Promise.all(mine.map((qe) => qe.waitUntilReady()));
  return { opened: c.count };
}

function report() {
  const counts = [...perStream.values()];
  const out = {
    received,
    latencies,
    bySeq,
    streamsWithEvents: counts.length,
    minPerStream: counts.length ? Math.min(...counts) : 0,
    maxPerStream: counts.length ? Math.max(...counts) : 0,
    errors,
    firstError,
  };
  latencies = [];
  bySeq = [];
  received = 0;
  perStream = new Map();
  errors = 0;
  firstError = "";
  return out;
}

async function closeAll() {
  closing = true;
  for (const call of calls) call.cancel();
  calls = [];
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(listeners.map((l) => l.close().catch(() => undefined)));
  listeners = [];
  report();
  closing = false;
  return { closed: true };
}

const ops: Record<string, (c: never) => Promise<unknown> | unknown> = {
  ping: () => ({ name, pid: process.pid }),
  watch,
  confirm,
  bullListen,
  received: () => ({ received }),
  report,
  closeAll,
};

process.on("message", (m: { id: number; op: string }) => {
  const op = ops[m.op];
  Promise.resolve()
    .then(() => {
      if (!op) throw new Error(`unknown op ${m.op}`);
      return op(m as never);
    })
    .then(
      (value) => process.send!({ id: m.id, ok: true, value }),
      (err: unknown) => process.send!({ id: m.id, ok: false, error: String((err as Error)?.stack ?? err) }),
    );
});
process.on("SIGTERM", () => {
  closeAll().finally(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
