/**
 * The benchmark of issue 4, in one run:  node --import tsx bench/run.ts [options]
 *
 *   --only a,b,…     sections to run: unary, serial, stream, fanout, cancel, bullmq, naive, memory, replicas,
 *                    million (default all; replicas runs bench/replicas.ts: 1 vs 2 replicas on PostgreSQL;
 *                    million runs bench/million.ts: 1,000,000 tasks vs 5,000, 100,000 under --quick)
 *   --quick          a short run (also BENCH_QUICK=1): 2 rounds of 1.5 s, 2,000 held streams,
 *                    fan-out at 1 and 100 watchers; same rows, wider error bars
 *   --rounds N       A/B rounds per method (default 4)
 *   --round-ms MS    length of one round per target (default 3000)
 *   --profile        CPU-profile the service child (V8 sampling profiler started by
 *                    bench/cpu-profile-hook.mjs; profiles land in bench/results/profiles/;
 *                    summarise with bench/profile-summary.ts)
 *   --out FILE       JSON results (default bench/results/latest.json; "-" writes none)
 *   --server-args "…" extra flags for the service child (e.g. "--durability full")
 *   --methods a,b    unary methods to measure (default UpdateProgress,EmitProgress,Heartbeat)
 *   --entry E        dist (default: the compiled server `npm start` runs, built first if stale)
 *                    or tsx (the sources through tsx, as the tests run them)
 *
 * See bench/README.md for what each row means.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { Queue, type Job } from "bullmq";
import { Redis } from "ioredis";
import { grpcClient, type GrpcTestClient } from "../test/support/grpc-client.js";
import { type ServerProcess, startServerProcess } from "../test/support/server-process.js";
import {
  EmitProgressRequestSchema,
  HeartbeatRequestSchema,
  StreamProgressRequestSchema,
  UpdateProgressRequestSchema,
  type CancelTaskResponse,
  type CreateTaskResponse,
  type UpdateProgressResponse,
  type WatchTasksResponse,
} from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../gen/taskcontrol/v1/task_pb.js";
import {
  type Agent,
  type BenchServer,
  cpuSeconds,
  drive,
  encode,
  identity,
  INFLIGHT,
  method,
  path,
  unarySender,
  machineBusySeconds,
  nowMs,
  percentile,
  ROOT,
  releasedRss,
  settledRss,
  sleep,
  startAgent,
  startBenchServer,
} from "./lib.js";

// ---- options -------------------------------------------------------------------------------

const { values: opts } = parseArgs({
  options: {
    only: { type: "string" },
    rounds: { type: "string", default: "4" },
    "round-ms": { type: "string", default: "3000" },
    profile: { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results/latest.json") },
    "server-args": { type: "string", default: "" },
    methods: { type: "string", default: "UpdateProgress,EmitProgress,Heartbeat" },
    quick: { type: "boolean", default: process.env.BENCH_QUICK === "1" },
    entry: { type: "string", default: "dist" },
  },
});
if (opts.entry !== "dist" && opts.entry !== "tsx") throw new Error(`--entry: dist or tsx, not ${opts.entry}`);
/**
 * The service as `npm start` runs it (the compiled dist/, built first if stale), or its
 * sources through tsx (--entry tsx): tsx's transform wraps every named function (a __name
 * call, and a property array per closure), which the product does not pay.
 */
const ENTRY = opts.entry as "dist" | "tsx";
const ALL = ["unary", "serial", "stream", "fanout", "cancel", "bullmq", "naive", "memory", "replicas", "million"] as const;
const only = new Set(opts.only ? opts.only.split(",").map((s) => s.trim()) : ALL);
const QUICK = opts.quick!;
const ROUNDS = QUICK && !process.argv.includes("--rounds") ? 2 : Number(opts.rounds);
const ROUND_MS = QUICK && !process.argv.includes("--round-ms") ? 1500 : Number(opts["round-ms"]);
const TASKS = 1000;
const STREAMS = 8;
const FANOUT_LEVELS = QUICK ? [1, 100] : [1, 100, 1000];
const FANOUT_RATE = 20; // events/s
/** The wide level: 10,000 watchers at a lower rate (issue 17), after the others; not in --quick. */
const FANOUT_WIDE = QUICK ? undefined : { watchers: 10_000, rate: 5 };
const FANOUT_SECONDS = QUICK ? 3 : 5;
const HELD = QUICK ? 2000 : 10_000;
/** Cancels measured by the cancel section (one at a time, 1,000 tasks running). */
const CANCELS = 300;
/** The lease of the tasks the Heartbeat row and the cancel section run on, in seconds. */
const LEASE_S = 60;
const REDIS = { host: "127.0.0.1", port: 6379 };
const RUN = Date.now().toString(36);
const SERVER_ARGS = ["--log-level", "warn", ...opts["server-args"].split(" ").filter(Boolean)];
const PROFILE_DIR = join(ROOT, "bench/results/profiles");
/**
 * The service limits open streams per principal (1,000 by default); the benchmark holds
 * 10,000 as one anonymous principal, so it raises the limit (an environment variable, which
 * a version of the service without the option simply ignores).
 */
const SERVER_ENV = { TASKCONTROL_MAX_STREAMS_PER_PRINCIPAL: "1000000" };

const log = (...a: unknown[]) => console.error(`[bench +${((nowMs() - T0) / 1000).toFixed(1)}s]`, ...a);
const T0 = nowMs();
const LOAD_AT_START = loadavg().map((x) => Number(x.toFixed(2)));

// ---- CPU of the whole run: ours versus everything else on the machine ---------------------------

/** Processes this run started; their CPU time is sampled until they exit. */
const tracked = new Map<number, number>();
function track(pid: number | undefined): void {
  if (pid !== undefined && !tracked.has(pid)) tracked.set(pid, sample(pid) ?? 0);
}
function sample(pid: number): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined; // exited: its last sample stands
  }
}
const cpuAtStart = { machine: machineBusySeconds(), own: process.cpuUsage(), t: nowMs() };
const cpuLast = new Map<number, number>();
const sampler = setInterval(() => {
  for (const pid of tracked.keys()) {
    const v = sample(pid);
    if (v !== undefined) cpuLast.set(pid, v);
  }
}, 250);
sampler.unref();
/** Mean CPU (in % of one core) of this run's processes and of everything else, since start. */
function runCpu(): { oursPct: number; otherPct: number } {
  for (const pid of tracked.keys()) {
    const v = sample(pid);
    if (v !== undefined) cpuLast.set(pid, v);
  }
  const wall = (nowMs() - cpuAtStart.t) / 1000;
  const own = process.cpuUsage(cpuAtStart.own);
  let ours = (own.user + own.system) / 1e6;
  for (const [pid, start] of tracked) ours += (cpuLast.get(pid) ?? start) - start;
  const machine = machineBusySeconds() - cpuAtStart.machine;
  return { oursPct: Math.round((100 * ours) / wall), otherPct: Math.max(0, Math.round((100 * (machine - ours)) / wall)) };
}

// ---- results -------------------------------------------------------------------------------

interface Rate {
  median: number;
  rounds: number[];
  /** CPU use of the measuring client and of the server during the rounds, in % of one core. */
  clientCpu: number;
  serverCpu: number;
  /** Everything else on the machine (other processes, the kernel's share not charged to us). */
  otherCpu: number;
  /** Server and client CPU time per call (or per stream message), in µs. */
  serverUsPerCall: number;
  clientUsPerCall: number;
  errors: number;
}
interface Latency {
  p50: number;
  p99: number;
  max: number;
  received: number;
  expected: number;
  sent: number;
  /** Worker-side: UpdateProgress call → ack. */
  ackP50?: number;
  ackP99?: number;
  errors?: number;
  /** Service CPU (% of a core) and all-machine CPU during the level; service CPU per delivery. */
  serverCpu?: number;
  machineCpu?: number;
  serverUsPerDelivery?: number;
  /** Service and watcher-process CPU from the first send to the last receipt, per receipt. */
  serverUsPerDeliveryToLast?: number;
  watcherUsPerReceipt?: number;
  /** Events per second sent (the fan-out levels). */
  rate?: number;
}
const results: Record<string, unknown> = {};
const notes: string[] = [];

// ---- clients -------------------------------------------------------------------------------

/** Measures client and server CPU around fn. */
async function withCpu<T>(
  serverPid: number,
  fn: () => Promise<T>,
): Promise<{ value: T; clientCpu: number; serverCpu: number; otherCpu: number }> {
  const c0 = process.cpuUsage();
  const s0 = cpuSeconds(serverPid);
  const m0 = machineBusySeconds();
  const t0 = nowMs();
  const value = await fn();
  const wall = (nowMs() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const client = (100 * (c.user + c.system)) / 1e6 / wall;
  const server = (100 * (cpuSeconds(serverPid) - s0)) / wall;
  const machine = (100 * (machineBusySeconds() - m0)) / wall;
  return { value, clientCpu: client, serverCpu: server, otherCpu: Math.max(0, machine - client - server) };
}

interface Target {
  label: string;
  pid: number;
  run: (ms: number) => Promise<{ rate: number; errors: number; firstError?: string }>;
}

/** Warm-up, then A B A B … rounds; the median of each side. */
async function abRounds(what: string, a: Target, b: Target): Promise<{ a: Rate; b: Rate; ratio: number }> {
  await a.run(1000);
  await b.run(1000);
  const acc = new Map<
    Target,
    { rates: number[]; client: number[]; server: number[]; other: number[]; serverUs: number[]; clientUs: number[]; errors: number }
  >();
  for (const t of [a, b]) acc.set(t, { rates: [], client: [], server: [], other: [], serverUs: [], clientUs: [], errors: 0 });
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of [a, b]) {
      const m = await withCpu(t.pid, () => t.run(ROUND_MS));
      const x = acc.get(t)!;
      x.rates.push(m.value.rate);
      x.client.push(m.clientCpu);
      x.server.push(m.serverCpu);
      x.other.push(m.otherCpu);
      // CPU time per call (µs): steadier than calls/s when other processes share the cores.
      x.serverUs.push((m.serverCpu * 1e4) / m.value.rate);
      x.clientUs.push((m.clientCpu * 1e4) / m.value.rate);
      x.errors += m.value.errors;
      if (m.value.errors) log(`${what} ${t.label}: ${m.value.errors} errors, first: ${m.value.firstError}`);
      log(`${what} round ${r + 1} ${t.label}: ${m.value.rate.toFixed(0)}/s (client cpu ${m.clientCpu.toFixed(0)}%, server cpu ${m.serverCpu.toFixed(0)}%, other processes ${m.otherCpu.toFixed(0)}%)`);
    }
  }
  const rate = (t: Target): Rate => {
    const x = acc.get(t)!;
    return {
      median: percentile(x.rates, 50),
      rounds: x.rates.map(Math.round),
      clientCpu: Math.round(percentile(x.client, 50)),
      serverCpu: Math.round(percentile(x.server, 50)),
      otherCpu: Math.round(percentile(x.other, 50)),
      serverUsPerCall: Number(percentile(x.serverUs, 50).toFixed(1)),
      clientUsPerCall: Number(percentile(x.clientUs, 50).toFixed(1)),
      errors: x.errors,
    };
  };
  const ra = rate(a);
  const rb = rate(b);
  return { a: ra, b: rb, ratio: ra.median / rb.median };
}

/**
 * `STREAMS` client streams write `messages` pre-encoded messages between them (with the
 * stream's backpressure), then end; answers persisted messages per second from the first
 * write to the last response (which the service sends only after every update committed).
 * A count, not a duration, bounds a run: HTTP/2 windows and the service's own in-flight
 * window let the client run seconds ahead of the commits, so "write for N seconds" would not
 * bound the time.
 */
async function streamRun(client: GrpcTestClient, requests: Buffer[], messages: number) {
  const m = method("StreamProgress");
  const p = path(m);
  const de = (b: Buffer) => fromBinary(m.output, b);
  const t0 = nowMs();
  let next = 0;
  let errors = 0;
  let firstError = "";
  const counts = await Promise.all(
    Array.from({ length: STREAMS }, async (_, s) => {
      const mine = Math.floor(messages / STREAMS) + (s < messages % STREAMS ? 1 : 0);
      let sent = 0;
      let callRef: grpc.ClientWritableStream<Buffer> | undefined;
      const answer = new Promise<{ updated: bigint; received: bigint }>((resolve, reject) => {
        callRef = client.raw.makeClientStreamRequest(p, identity, de, (err, res) =>
          err ? reject(err) : resolve(res as unknown as { updated: bigint; received: bigint }),
        ) as grpc.ClientWritableStream<Buffer>;
      });
      const call = callRef!;
      try {
        while (sent < mine) {
          const ok = call.write(requests[next++ % requests.length]!);
          sent++;
          if (!ok) await new Promise((resolve) => call.once("drain", resolve));
        }
        call.end();
        const res = await answer;
        return { updated: Number(res.updated), received: Number(res.received), sent };
      } catch (err) {
        errors++;
        firstError ||= String((err as Error).message ?? err);
        return { updated: 0, received: 0, sent };
      }
    }),
  );
  const elapsed = (nowMs() - t0) / 1000;
  const updated = counts.reduce((s, c) => s + c.updated, 0);
  const sent = counts.reduce((s, c) => s + c.sent, 0);
  if (process.env.BENCH_DEBUG) log(`stream run: sent ${sent}, updated ${updated} in ${elapsed.toFixed(2)} s`);
  return { rate: updated / elapsed, sent, updated, errors, firstError, elapsed };
}

/** A stream target whose runs send about `ms` worth of messages at the rate last measured. */
function streamTarget(label: string, pid: number, client: GrpcTestClient, requests: Buffer[], batches?: { http: string; out: number[] }): Target {
  let rate = 0;
  return {
    label,
    pid,
    async run(ms) {
      const messages = rate === 0 ? 20_000 : Math.max(10_000, Math.round((rate * ms) / 1000));
      const run = () => streamRun(client, requests, messages);
      let r;
      if (batches) {
        const x = await withBatches(batches.http, run);
        if (x.meanBatch !== undefined) batches.out.push(x.meanBatch);
        r = x.value;
      } else {
        r = await run();
      }
      if (r.rate > 0) rate = r.rate;
      return r;
    },
  };
}

/**
 * Committed batches so far, from the service's /metrics (taskcontrol_store_batch_size), or
 * undefined if this version does not export it. Deltas around a section give its mean batch.
 */
async function batchStats(httpAddress: string): Promise<{ sum: number; count: number } | undefined> {
  try {
    const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
    const sum = text.match(/^taskcontrol_store_batch_size_sum(?:\{[^}]*\})? (\S+)/m);
    const count = text.match(/^taskcontrol_store_batch_size_count(?:\{[^}]*\})? (\S+)/m);
    return sum && count ? { sum: Number(sum[1]), count: Number(count[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs fn and answers the mean batch size (mutations per commit) and commits per second during it. */
async function withBatches<T>(httpAddress: string, fn: () => Promise<T>): Promise<{ value: T; meanBatch?: number; commitsPerSec?: number }> {
  const b0 = await batchStats(httpAddress);
  const t0 = nowMs();
  const value = await fn();
  const b1 = await batchStats(httpAddress);
  if (!b0 || !b1 || b1.count === b0.count) return { value };
  return {
    value,
    meanBatch: Number(((b1.sum - b0.sum) / (b1.count - b0.count)).toFixed(1)),
    commitsPerSec: Math.round((b1.count - b0.count) / ((nowMs() - t0) / 1000)),
  };
}

async function createTasks(client: GrpcTestClient, owner: string, n: number, leaseSeconds = 0): Promise<string[]> {
  const ids: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const res = await client.unary<CreateTaskResponse>("CreateTask", {
          owner,
          kind: "bench",
          label: `task ${i}`,
          ...(leaseSeconds ? { leaseDuration: { seconds: BigInt(leaseSeconds), nanos: 0 } } : {}),
        });
        ids[i] = res.task!.id;
      }
    }),
  );
  return ids;
}

// ---- sections --------------------------------------------------------------------------------

async function sectionUnary(svc: ServerProcess, bare: BenchServer, svcClient: GrpcTestClient, bareClient: GrpcTestClient, ids: string[]) {
  const updates = Array.from({ length: 4 * TASKS }, (_, i) =>
    encode(UpdateProgressRequestSchema, { taskId: ids[i % TASKS]!, progress: ((i % 97) + 1) / 100 }),
  );
  const emits = Array.from({ length: 4 * TASKS }, (_, i) =>
    encode(EmitProgressRequestSchema, { taskId: ids[i % TASKS]!, progress: ((i % 97) + 1) / 100, label: `line ${i}` }),
  );
  // Heartbeats renew leases: tasks of their own, each with a lease (the lease path, never a row per call).
  const leased = opts.methods!.split(",").includes("Heartbeat") ? await createTasks(svcClient, `bench-lease-${RUN}`, TASKS, LEASE_S) : [];
  const beats = leased.map((id) => encode(HeartbeatRequestSchema, { taskId: id, attempt: 1n }));
  const found = (r: unknown) => (r as { found: boolean }).found;
  for (const [name, reqs, key] of [
    ["UpdateProgress", updates, "updateProgress"],
    ["EmitProgress", emits, "emitProgress"],
    ["Heartbeat", beats, "heartbeat"],
  ] as const) {
    if (!opts.methods!.split(",").includes(name)) continue;
    const commits0 = await batchStats(svc.httpAddress);
    let calls = 0;
    let bad = 0;
    const batches: number[] = [];
    const svcSend = unarySender(svcClient, name, reqs);
    const bareSend = unarySender(bareClient, name, reqs);
    const r = await abRounds(
      name,
      {
        label: "taskcontrol",
        pid: svc.child.pid!,
        run: async (ms) => {
          const { value: x, meanBatch } = await withBatches(svc.httpAddress, () => drive(svcSend, ms, INFLIGHT, found));
          if (meanBatch !== undefined) batches.push(meanBatch);
          bad += x.bad;
          calls += x.done;
          return x;
        },
      },
      { label: "bare", pid: bare.pid, run: (ms) => drive(bareSend, ms) },
    );
    if (bad) notes.push(`${name}: ${bad} answers had found=false`);
    const commits1 = await batchStats(svc.httpAddress);
    results[key] = {
      taskcontrol: r.a,
      bare: r.b,
      ratio: r.ratio,
      ...(batches.length ? { meanBatch: percentile(batches, 50) } : {}),
      // Commits (of any kind) per call while the service ran this method: ~0 for a call that writes no row.
      ...(commits0 && commits1 ? { commitsPerCall: Number(((commits1.count - commits0.count) / Math.max(1, calls)).toFixed(4)), calls } : {}),
    };
  }
}

/** One caller that awaits each call for `ms`: the latency of each call, in ms. */
async function serialRun(send: (i: number) => Promise<unknown>, ms: number, start: number) {
  const lat: number[] = [];
  let errors = 0;
  const end = nowMs() + ms;
  for (let i = start; nowMs() < end; i++) {
    const t = nowMs();
    try {
      await send(i);
      lat.push(nowMs() - t);
    } catch {
      errors++;
    }
  }
  return { lat, errors };
}

/**
 * One call at a time (a worker that awaits each call): p50/p99 of the service and of the bare
 * server, interleaved A B A B after a warm-up each; the median of the rounds' p50 and of
 * their p99 per side. An idle writer's call should not wait for anyone's batch.
 */
async function sectionSerial(svcClient: GrpcTestClient, bareClient: GrpcTestClient, ids: string[]) {
  const reqs: Record<string, Buffer[]> = {
    UpdateProgress: Array.from({ length: 4 * TASKS }, (_, i) =>
      encode(UpdateProgressRequestSchema, { taskId: ids[i % TASKS]!, progress: ((i % 89) + 1) / 100 }),
    ),
    EmitProgress: Array.from({ length: 4 * TASKS }, (_, i) =>
      encode(EmitProgressRequestSchema, { taskId: ids[i % TASKS]!, progress: ((i % 89) + 1) / 100, label: `serial ${i}` }),
    ),
  };
  const out: Record<string, unknown> = {};
  for (const name of ["UpdateProgress", "EmitProgress"]) {
    const sides = { taskcontrol: unarySender(svcClient, name, reqs[name]!), bare: unarySender(bareClient, name, reqs[name]!) };
    const acc = { taskcontrol: { p50: [] as number[], p99: [] as number[], calls: 0, errors: 0 }, bare: { p50: [] as number[], p99: [] as number[], calls: 0, errors: 0 } };
    let next = 0;
    for (const side of ["taskcontrol", "bare"] as const) next += (await serialRun(sides[side], 1000, next)).lat.length;
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of ["taskcontrol", "bare"] as const) {
        const { lat, errors } = await serialRun(sides[side], ROUND_MS, next);
        next += lat.length + errors;
        const a = acc[side];
        a.p50.push(percentile(lat, 50));
        a.p99.push(percentile(lat, 99));
        a.calls += lat.length;
        a.errors += errors;
        log(`${name} one at a time round ${r + 1} ${side}: p50 ${percentile(lat, 50).toFixed(3)} ms, p99 ${percentile(lat, 99).toFixed(3)} ms (${lat.length} calls)`);
      }
    }
    const sum = (a: (typeof acc)["bare"]) => ({
      p50: Number(percentile(a.p50, 50).toFixed(3)),
      p99: Number(percentile(a.p99, 50).toFixed(3)),
      roundsP50: a.p50.map((x) => Number(x.toFixed(3))),
      roundsP99: a.p99.map((x) => Number(x.toFixed(3))),
      calls: a.calls,
      errors: a.errors,
    });
    const t = sum(acc.taskcontrol);
    const b = sum(acc.bare);
    out[name] = { taskcontrol: t, bare: b, p50Ratio: t.p50 / b.p50, p99Ratio: t.p99 / b.p99 };
  }
  results.serial = out;
}

async function sectionStream(svc: ServerProcess, bare: BenchServer, svcClient: GrpcTestClient, bareClient: GrpcTestClient, ids: string[]) {
  const reqs = Array.from({ length: 4 * TASKS }, (_, i) =>
    encode(StreamProgressRequestSchema, {
      message: { case: "update", value: { taskId: ids[i % TASKS]!, progress: ((i % 97) + 1) / 100 } },
    }),
  );
  const batches: number[] = [];
  const r = await abRounds(
    "StreamProgress",
    streamTarget("taskcontrol", svc.child.pid!, svcClient, reqs, { http: svc.httpAddress, out: batches }),
    streamTarget("bare", bare.pid, bareClient, reqs),
  );
  results.streamProgress = {
    streams: STREAMS,
    taskcontrol: r.a,
    bare: r.b,
    ratio: r.ratio,
    ...(batches.length ? { meanBatch: percentile(batches, 50) } : {}),
  };
}

/** Sends UpdateProgress at a fixed rate with the send time in the label; collects receipts. */
async function fanoutLevel(
  svcClient: GrpcTestClient,
  address: string,
  serverPid: number,
  agents: Agent[],
  owner: string,
  taskId: string,
  n: number,
  rate = FANOUT_RATE,
): Promise<Latency> {
  const tag = `fan${n}-${RUN}`;
  const split = n <= 500 ? [n] : agents.map((_, i) => Math.floor(n / agents.length) + (i < n % agents.length ? 1 : 0));
  await Promise.all(
    split.map((count, i) => agents[i]!.call({ op: "watch", address, owner, count, connections: Math.ceil(count / 1000), tag })),
  );
  await Promise.all(agents.map((a) => a.call({ op: "report" })));
  await sleep(300);
  const total = rate * FANOUT_SECONDS;
  const acks: number[] = [];
  let sendErrors = 0;
  const pending: Promise<void>[] = [];
  const s0 = cpuSeconds(serverPid);
  const m0 = machineBusySeconds();
  const agentCpu = () => split.reduce((sum, _, i) => sum + cpuSeconds(agents[i]!.pid), 0);
  const a0 = agentCpu();
  const start = nowMs() + 20;
  for (let seq = 0; seq < total; seq++) {
    const at = start + (seq * 1000) / rate;
    const wait = at - nowMs();
    if (wait > 0) await sleep(wait);
    const t = nowMs();
    pending.push(
      svcClient
        .unary<UpdateProgressResponse>("UpdateProgress", { taskId, progress: (seq + 1) / total, label: `${tag}:${seq}:${t}` })
        .then(
          () => void acks.push(nowMs() - t),
          () => void sendErrors++,
        ),
    );
  }
  await Promise.all(pending);
  await sleep(1000);
  const wall = (nowMs() - start) / 1000;
  const serverCpu = (100 * (cpuSeconds(serverPid) - s0)) / wall;
  const machineCpu = (100 * (machineBusySeconds() - m0)) / wall;
  // Late is not lost: on a busy machine receipts can trail the last send by more than the
  // second above. Wait (at most 15 s) until all arrived or none came for 2 s; late ones
  // still count in the latencies (the CPU figures stay those of the send and that second).
  const expected = acks.length * n;
  for (let last = -1, still = 0, waited = 0; waited < 15_000; waited += 250) {
    const got = (await Promise.all(split.map((_, i) => agents[i]!.call<{ received: number }>({ op: "received" })))).reduce((s, r) => s + r.received, 0);
    if (got >= expected) break;
    still = got === last ? still + 250 : 0;
    if (still >= 2000) break;
    last = got;
    await sleep(250);
  }
  // CPU until the last receipt (or the wait gave up): the work of late receipts counts too.
  const serverUsAll = ((cpuSeconds(serverPid) - s0) * 1e6) / Math.max(1, expected);
  const agentUsAll = ((agentCpu() - a0) * 1e6) / Math.max(1, expected);
  const reports = await Promise.all(
    split.map((_, i) =>
      agents[i]!.call<{ received: number; latencies: number[]; minPerStream: number; maxPerStream: number; errors: number; firstError: string }>({ op: "report" }),
    ),
  );
  await Promise.all(split.map((_, i) => agents[i]!.call({ op: "closeAll" })));
  const lat = reports.flatMap((r) => r.latencies);
  if (process.env.BENCH_BY_SEQ) {
    const worst = reports.map((r) => (r as unknown as { bySeq: number[] }).bySeq);
    log(`fan-out ${n} worst by event: ${worst[0]!.map((_, i) => Math.max(...worst.map((w) => w[i] ?? 0)).toFixed(0)).join(" ")}`);
  }
  const errors = reports.reduce((s, r) => s + r.errors, 0) + sendErrors;
  if (errors) notes.push(`fan-out ${n}: ${errors} errors (${reports.map((r) => r.firstError).filter(Boolean)[0] ?? "send"})`);
  return {
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: percentile(lat, 100),
    received: reports.reduce((s, r) => s + r.received, 0),
    expected,
    sent: total,
    ackP50: percentile(acks, 50),
    ackP99: percentile(acks, 99),
    errors,
    serverCpu: Math.round(serverCpu),
    machineCpu: Math.round(machineCpu),
    serverUsPerDelivery: Number(((serverCpu * 1e4) / (rate * n)).toFixed(1)),
    serverUsPerDeliveryToLast: Number(serverUsAll.toFixed(1)),
    watcherUsPerReceipt: Number(agentUsAll.toFixed(1)),
    rate,
  };
}

async function sectionFanout(svc: ServerProcess, svcClient: GrpcTestClient, agents: Agent[]) {
  const owner = `bench-fan-${RUN}`;
  const task = await svcClient.unary<CreateTaskResponse>("CreateTask", { owner, kind: "bench", label: "fan-out" });
  const out: Record<string, Latency> = {};
  const levels = [...FANOUT_LEVELS.map((n) => ({ watchers: n, rate: FANOUT_RATE })), ...(FANOUT_WIDE ? [FANOUT_WIDE] : [])];
  for (const { watchers: n, rate } of levels) {
    out[n] = await fanoutLevel(svcClient, svc.grpcAddress, svc.child.pid!, agents, owner, task.task!.id, n, rate);
    const l = out[n]!;
    log(
      `fan-out ${n} at ${rate} ev/s: p50 ${l.p50.toFixed(2)} ms p99 ${l.p99.toFixed(2)} ms, received ${l.received}/${l.expected}, ` +
        `ack p99 ${l.ackP99!.toFixed(2)} ms, server cpu ${l.serverCpu}% (${l.serverUsPerDelivery} µs/delivery; ${l.serverUsPerDeliveryToLast} to the last receipt), ` +
        `watchers ${l.watcherUsPerReceipt} µs/receipt, machine ${l.machineCpu}%`,
    );
  }
  results.fanout = { rate: FANOUT_RATE, seconds: FANOUT_SECONDS, watcherProcesses: agents.length, levels: out };
}

async function redisReachable(): Promise<boolean> {
  const r = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on("error", () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function sectionBull(agents: Agent[]) {
  if (!(await redisReachable())) {
    notes.push(`BullMQ: Redis is not reachable at ${REDIS.host}:${REDIS.port}; its rows are missing`);
    results.bullmq = { unreachable: true };
    log("BullMQ: Redis unreachable; skipped");
    return;
  }
  const connection = { ...REDIS, maxRetriesPerRequest: null };
  const bull: Record<string, unknown> = {};
  // updateProgress throughput: 64 in flight over 1,000 jobs.
  const q = new Queue(`bench-tp-${RUN}`, { connection });
  try {
    const jobs: Job[] = await q.addBulk(Array.from({ length: TASKS }, (_, i) => ({ name: "bench", data: { i } })));
    const send = (i: number) => jobs[i % TASKS]!.updateProgress(((i % 97) + 1) / 100);
    await drive(send, 1000);
    const rates: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const c0 = process.cpuUsage();
      const x = await drive(send, ROUND_MS);
      const c = process.cpuUsage(c0);
      cpu.push((100 * (c.user + c.system)) / 1e6 / x.elapsed);
      rates.push(x.rate);
      log(`BullMQ updateProgress round ${r + 1}: ${x.rate.toFixed(0)}/s (client cpu ${cpu[cpu.length - 1]!.toFixed(0)}%)`);
    }
    bull.updateProgress = { median: percentile(rates, 50), rounds: rates.map(Math.round), clientCpu: Math.round(percentile(cpu, 50)) };
  } finally {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  // QueueEvents 'progress' delivery to 100 listeners (in a watcher process, like ours).
  const n = 100;
  const tag = `bull-${RUN}`;
  const name = `bench-ev-${RUN}`;
  const qe = new Queue(name, { connection });
  try {
    await agents[0]!.call({ op: "bullListen", queue: name, count: n, tag, redis: REDIS });
    await agents[0]!.call({ op: "report" });
    const job = await qe.add("bench", {});
    await sleep(1000);
    const total = FANOUT_RATE * FANOUT_SECONDS;
    const acks: number[] = [];
    const pending: Promise<void>[] = [];
    const start = nowMs() + 20;
    for (let seq = 0; seq < total; seq++) {
      const wait = start + (seq * 1000) / FANOUT_RATE - nowMs();
      if (wait > 0) await sleep(wait);
      const t = nowMs();
      pending.push(job.updateProgress({ tag, seq, t }).then(() => void acks.push(nowMs() - t)));
    }
    await Promise.all(pending);
    await sleep(1000);
    const rep = await agents[0]!.call<{ received: number; latencies: number[]; errors: number }>({ op: "report" });
    await agents[0]!.call({ op: "closeAll" });
    const l: Latency = {
      p50: percentile(rep.latencies, 50),
      p99: percentile(rep.latencies, 99),
      max: percentile(rep.latencies, 100),
      received: rep.received,
      expected: acks.length * n,
      sent: total,
      ackP50: percentile(acks, 50),
      ackP99: percentile(acks, 99),
      errors: rep.errors,
    };
    bull.queueEvents = { listeners: n, ...l };
    log(`BullMQ QueueEvents ${n}: p50 ${l.p50.toFixed(2)} ms p99 ${l.p99.toFixed(2)} ms, received ${l.received}/${l.expected}`);
  } finally {
    await qe.obliterate({ force: true }).catch(() => undefined);
    await qe.close();
  }
  results.bullmq = bull;
}

/**
 * The 2-replica PostgreSQL row: bench/replicas.ts in a child process (short rounds), whose
 * JSON gives 1- and 2-replica throughput and cross-replica delivery and answer latency.
 */
async function sectionReplicas(dir: string): Promise<void> {
  const out = join(dir, "replicas.json");
  try {
    execFileSync(process.execPath, ["--import", "tsx", "bench/replicas.ts", "--seconds", "3", "--rounds", "20", "--out", out], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 120_000,
    });
  } catch (err) {
    notes.push(`replicas: bench/replicas.ts failed (${(err as Error).message.split("\n")[0]}); is PostgreSQL up on 127.0.0.1:5432?`);
    results.replicas = { unreachable: true };
    return;
  }
  const r = JSON.parse(readFileSync(out, "utf8")) as Record<string, any>;
  const one = r.throughput["postgres, 1 replica"];
  const two = r.throughput["postgres, 2 replicas"];
  results.replicas = {
    onePostgres: one,
    twoPostgres: two,
    ratio: two.callsPerSecond / one.callsPerSecond,
    confirmation: r.confirmation,
    deliveryIdle: r.deliveryIdle,
  };
  log(`replicas: postgres 1 replica ${one.callsPerSecond}/s, 2 replicas ${two.callsPerSecond}/s`);
}

/**
 * The million-task rows: bench/million.ts in a child process (its own seeded databases and
 * servers; --quick seeds 100,000 tasks instead of 1,000,000), whose JSON carries its rows
 * and verdicts.
 */
async function sectionMillion(dir: string): Promise<void> {
  const out = join(dir, "million.json");
  try {
    execFileSync(process.execPath, ["--import", "tsx", "bench/million.ts", ...(QUICK ? ["--quick"] : []), "--out", out], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 1_800_000,
    });
  } catch (err) {
    notes.push(`million: bench/million.ts failed (${(err as Error).message.split("\n")[0]})`);
    return;
  }
  results.million = JSON.parse(readFileSync(out, "utf8"));
  log(`million: ${(results.million as { rows: unknown[] }).rows.length} rows`);
}

/**
 * CancelTask → the worker's event: 1,000 leased tasks running, each watched by its worker
 * (WatchTasks with task_ids, as the Python SDK's run_background does) and heartbeating in the
 * background; the tasks are cancelled one at a time. Latency = receipt of the status_changed
 * (CANCELLED, with the reason) on the task's watch − CancelTask's answer (negative when the
 * push arrived first: the hub is told before the caller is answered; counted as 0).
 */
async function sectionCancel(svc: ServerProcess, svcClient: GrpcTestClient) {
  const owner = `bench-cancel-${RUN}`;
  const ids = await createTasks(svcClient, owner, TASKS, LEASE_S);
  const channels = Array.from({ length: 4 }, () => grpcClient(svc.grpcAddress));
  const arrived = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const ready: Promise<void>[] = [];
  const calls: grpc.ClientReadableStream<unknown>[] = [];
  ids.forEach((id, i) => {
    const { responses, call } = channels[i % channels.length]!.serverStream<WatchTasksResponse>("WatchTasks", {
      taskIds: [id],
      includeSnapshot: true,
    });
    calls.push(call as grpc.ClientReadableStream<unknown>);
    call.on("error", () => undefined);
    ready.push(
      new Promise<void>((resolve) => {
        void (async () => {
          try {
            for await (const e of responses) {
              if (e.event.case === "snapshotEnd") resolve();
              if (e.event.case === "statusChanged" && e.event.value.task?.status === TaskStatus.CANCELLED && e.event.value.task.cancelReason) {
                arrived.set(id, nowMs());
                waiters.get(id)?.();
              }
            }
          } catch {
            resolve();
          }
        })();
      }),
    );
  });
  await Promise.all(ready);
  log(`cancel: ${TASKS} worker watches open`);
  // The workers keep heartbeating meanwhile.
  let beating = true;
  const heartbeats = Array.from({ length: 8 }, async (_, lane) => {
    for (let n = lane; beating; n += 8) {
      await svcClient.unary("Heartbeat", { taskId: ids[n % TASKS]!, attempt: 1n }).catch(() => undefined);
    }
  });
  const afterAnswer: number[] = [];
  const afterSend: number[] = [];
  let early = 0;
  let lost = 0;
  try {
    for (let i = 0; i < CANCELS; i++) {
      const id = ids[i]!;
      const sent = nowMs();
      await svcClient.unary<CancelTaskResponse>("CancelTask", { taskId: id, reason: `bench ${i}` });
      const answered = nowMs();
      if (!arrived.has(id)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          waiters.set(id, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiters.delete(id);
      }
      const at = arrived.get(id);
      if (at === undefined) {
        lost++;
        continue;
      }
      if (at < answered) early++;
      afterAnswer.push(Math.max(0, at - answered));
      afterSend.push(at - sent);
      await sleep(5);
    }
  } finally {
    beating = false;
    await Promise.all(heartbeats);
    for (const c of calls) c.cancel();
    for (const c of channels) c.close();
  }
  results.cancelPush = {
    tasks: TASKS,
    cancels: CANCELS,
    lost,
    pushedBeforeAnswer: early,
    p50: percentile(afterAnswer, 50),
    p99: percentile(afterAnswer, 99),
    max: Math.max(...afterAnswer),
    fromSendP50: percentile(afterSend, 50),
    fromSendP99: percentile(afterSend, 99),
  };
  log(`cancel push: p50 ${percentile(afterAnswer, 50).toFixed(2)} ms, p99 ${percentile(afterAnswer, 99).toFixed(2)} ms after the answer; ${lost} lost`);
}

async function sectionNaive(bare: BenchServer | undefined, bareClient: GrpcTestClient | undefined) {
  const naive = await startBenchServer("naive");
  track(naive.pid);
  const client = grpcClient(naive.address);
  try {
    const reqs = Array.from({ length: 4 * TASKS }, (_, i) =>
      encode(UpdateProgressRequestSchema, { taskId: `naive-${i % TASKS}`, progress: ((i % 97) + 1) / 100 }),
    );
    const send = unarySender(client, "UpdateProgress", reqs);
    await drive(send, 1000);
    const m = await withCpu(naive.pid, () => drive(send, ROUND_MS, INFLIGHT, (r) => (r as { applied: boolean }).applied));
    if (m.value.bad || m.value.errors) notes.push(`naive: ${m.value.bad} not applied, ${m.value.errors} errors ${m.value.firstError}`);
    results.naiveOrm = {
      median: m.value.rate,
      clientCpu: Math.round(m.clientCpu),
      serverCpu: Math.round(m.serverCpu),
      errors: m.value.errors,
    };
    log(`naive ORM UpdateProgress: ${m.value.rate.toFixed(0)}/s (server cpu ${m.serverCpu.toFixed(0)}%)`);
    void bare;
    void bareClient;
  } finally {
    client.close();
    await naive.stop();
  }
}

async function sectionMemory(dir: string, bare: BenchServer, agents: Agent[]) {
  const svc = await startServerProcess({ db: join(dir, "memory.sqlite"), args: SERVER_ARGS, env: SERVER_ENV, entry: ENTRY });
  track(svc.child.pid);
  const client = grpcClient(svc.grpcAddress);
  const pid = svc.child.pid!;
  const mem: Record<string, unknown> = {};
  try {
    const owner = `bench-mem-${RUN}`;
    const ids = await createTasks(client, owner, HELD);
    log(`memory: ${HELD} tasks created`);
    const per = agents.map((_, i) => Math.floor(HELD / agents.length) + (i < HELD % agents.length ? 1 : 0));
    // Every figure twice: at once (1.5 s after, as before) and once V8 released the garbage of
    // what came before (releasedRss): the base too, or the creation's garbage, collected
    // later, would come off the streams' share.
    const base = await releasedRss(pid);
    const rss0 = base.kib;
    const w0 = nowMs();
    await Promise.all(
      per.map((count, i) =>
        agents[i]!.call({ op: "watch", address: svc.grpcAddress, owner: `bench-idle-${RUN}`, count, connections: Math.ceil(count / 1000), tag: "idle" }),
      ),
    );
    const watchOpenMs = nowMs() - w0;
    await sleep(1500);
    const rss1Once = await settledRss(pid);
    const watched = await releasedRss(pid);
    const rss1 = watched.kib;
    log(`memory: ${HELD} idle WatchTasks open in ${(watchOpenMs / 1000).toFixed(1)} s, RSS ${rss0} → ${rss1Once} KiB at once, ${rss1} KiB after ${(watched.waitedMs / 1000).toFixed(0)} s more`);
    let offset = 0;
    const c0 = nowMs();
    await Promise.all(
      per.map((count, i) => {
        const slice = ids.slice(offset, (offset += count));
        return agents[i]!.call(
          { op: "confirm", address: svc.grpcAddress, taskIds: slice, connections: Math.ceil(count / 1000), tag: `hold-${RUN}` },
          180_000,
        );
      }),
    );
    const confirmOpenMs = nowMs() - c0;
    await sleep(1500);
    const rss2Once = await settledRss(pid);
    const held = await releasedRss(pid);
    const rss2 = held.kib;
    log(`memory: ${HELD} RequestConfirmation held in ${(confirmOpenMs / 1000).toFixed(1)} s, RSS ${rss1} → ${rss2Once} KiB at once, ${rss2} KiB after ${(held.waitedMs / 1000).toFixed(0)} s more`);
    await Promise.all(agents.map((a) => a.call({ op: "closeAll" })));
    mem.taskcontrol = {
      rssBaseKiB: rss0,
      rssWatchesKiB: rss1,
      rssConfirmationsKiB: rss2,
      perWatchKiB: (rss1 - rss0) / HELD,
      perConfirmationKiB: (rss2 - rss1) / HELD,
      // As measured before releasedRss: 1.5 s after the streams opened, from the settled figure before.
      perWatchAtOnceKiB: (rss1Once - rss0) / HELD,
      perConfirmationAtOnceKiB: (rss2Once - rss1) / HELD,
      releaseWaitMs: { base: base.waitedMs, watches: watched.waitedMs, confirmations: held.waitedMs },
      watchOpenMs: Math.round(watchOpenMs),
      confirmOpenMs: Math.round(confirmOpenMs),
    };
  } finally {
    client.close();
    await svc.stop();
  }
  // The floor: the same 10,000 held streams on the bare grpc-js server.
  const bareBase = await releasedRss(bare.pid);
  const b0 = bareBase.kib;
  await Promise.all(
    agents.map((a, i) =>
      a.call({ op: "watch", address: bare.address, owner: "x", count: Math.floor(HELD / agents.length) + (i < HELD % agents.length ? 1 : 0), connections: 5, tag: "bare" }),
    ),
  );
  await sleep(1500);
  const b1Once = await settledRss(bare.pid);
  const bareHeld = await releasedRss(bare.pid);
  const b1 = bareHeld.kib;
  await Promise.all(agents.map((a) => a.call({ op: "closeAll" })));
  mem.bare = { rssBaseKiB: b0, rssStreamsKiB: b1, perStreamKiB: (b1 - b0) / HELD, perStreamAtOnceKiB: (b1Once - b0) / HELD };
  log(`memory: bare grpc-js ${HELD} held streams RSS ${b0} → ${b1Once} KiB at once, ${b1} KiB after ${(bareHeld.waitedMs / 1000).toFixed(0)} s more`);
  results.memory = { held: HELD, ...mem };
}

// ---- report ------------------------------------------------------------------------------

const f0 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : Math.round(x).toLocaleString("en-US"));
const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(1));
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(2));

function table(): { text: string; targets: { name: string; value: number; target: string; met: boolean }[] } {
  const rows: string[][] = [["measure", "taskcontrol", "peer", "ratio / note", "target", "verdict"]];
  const targets: { name: string; value: number; target: string; met: boolean }[] = [];
  const verdict = (name: string, value: number, ok: boolean, target: string) => {
    if (Number.isNaN(value)) return "n/a";
    targets.push({ name, value, target, met: ok });
    return ok ? "met" : "SHORT";
  };
  const R = results as Record<string, any>;
  const cpu = (r: Rate) => `srv ${f0(r.serverUsPerCall)} µs/call`;
  if (R.updateProgress) {
    const u = R.updateProgress;
    rows.push([
      "UpdateProgress calls/s (64 in flight, persisted)",
      `${f0(u.taskcontrol.median)} [${cpu(u.taskcontrol)}]`,
      `bare ${f0(u.bare.median)} [${cpu(u.bare)}]`,
      `${f2(u.ratio)}×${u.meanBatch ? `; mean batch ${u.meanBatch}` : ""}`,
      "≥ 0.80× bare",
      verdict("UpdateProgress ≥ 0.80× bare", u.ratio, u.ratio >= 0.8, "0.80"),
    ]);
  }
  if (R.emitProgress) {
    const e = R.emitProgress;
    rows.push([
      "EmitProgress calls/s (64 in flight, live)",
      `${f0(e.taskcontrol.median)} [${cpu(e.taskcontrol)}]`,
      `bare ${f0(e.bare.median)} [${cpu(e.bare)}]`,
      `${f2(e.ratio)}×`,
      "≥ 0.90× bare",
      verdict("EmitProgress ≥ 0.90× bare", e.ratio, e.ratio >= 0.9, "0.90"),
    ]);
  }
  if (R.heartbeat) {
    const hb = R.heartbeat;
    const e = R.emitProgress;
    rows.push([
      "Heartbeat calls/s (64 in flight, 1,000 leased tasks)",
      `${f0(hb.taskcontrol.median)} [${cpu(hb.taskcontrol)}]`,
      `bare ${f0(hb.bare.median)}${e ? `; EmitProgress ${f0(e.taskcontrol.median)}` : ""}`,
      `${f2(hb.ratio)}× bare; ${hb.commitsPerCall ?? "—"} commits/call`,
      "≥ 0.90× bare; no row write per call",
      [
        verdict("Heartbeat ≥ 0.90× bare", hb.ratio, hb.ratio >= 0.9, "0.90"),
        verdict("Heartbeat writes no row per call", hb.commitsPerCall ?? Number.NaN, (hb.commitsPerCall ?? 1) < 0.01, "< 0.01 commits/call"),
      ].join(" / "),
    ]);
  }
  for (const name of ["UpdateProgress", "EmitProgress"]) {
    const x = R.serial?.[name];
    if (!x) continue;
    const judged = name === "UpdateProgress";
    rows.push([
      `${name} one call at a time: p50 / p99 ms`,
      `${x.taskcontrol.p50.toFixed(3)} / ${x.taskcontrol.p99.toFixed(3)}`,
      `bare ${x.bare.p50.toFixed(3)} / ${x.bare.p99.toFixed(3)}`,
      `p50 ${f2(x.p50Ratio)}×, p99 ${f2(x.p99Ratio)}×`,
      judged ? "p50 and p99 ≤ 2× bare" : "reference",
      judged
        ? [
            verdict(`${name} one at a time p50 ≤ 2× bare`, x.p50Ratio, x.p50Ratio <= 2, "2"),
            verdict(`${name} one at a time p99 ≤ 2× bare`, x.p99Ratio, x.p99Ratio <= 2, "2"),
          ].join(" / ")
        : "",
    ]);
  }
  if (R.cancelPush) {
    const c = R.cancelPush;
    rows.push([
      `CancelTask → worker's watch event p50/p99 ms (${f0(c.tasks)} running)`,
      `${f2(c.p50)} / ${f2(c.p99)} (max ${f1(c.max)})`,
      "",
      `${c.cancels} cancels, ${c.lost} lost, ${c.pushedBeforeAnswer} pushed before the answer; from send p99 ${f2(c.fromSendP99)}`,
      "p99 ≤ 100 ms",
      verdict("CancelTask → worker event p99 ≤ 100 ms", c.p99, c.p99 <= 100 && c.lost === 0, "100"),
    ]);
  }
  const bullRate: number | undefined = R.bullmq?.updateProgress?.median;
  if (R.streamProgress) {
    const s = R.streamProgress;
    rows.push([
      `StreamProgress persisted msgs/s (${s.streams} streams)`,
      `${f0(s.taskcontrol.median)} [${cpu(s.taskcontrol)}]`,
      `bare stream ${f0(s.bare.median)} [${cpu(s.bare)}]`,
      `${f2(s.ratio)}× bare${s.meanBatch ? `; mean batch ${s.meanBatch}` : ""}`,
      "—",
      "",
    ]);
    const ratio = bullRate ? s.taskcontrol.median / bullRate : Number.NaN;
    rows.push([
      "StreamProgress vs BullMQ updateProgress",
      f0(s.taskcontrol.median),
      bullRate ? `BullMQ ${f0(bullRate)}` : "BullMQ n/a",
      `${f2(ratio)}×`,
      "≥ 1.0× BullMQ",
      verdict("StreamProgress ≥ 1.0× BullMQ updateProgress", ratio, ratio >= 1.0, "1.0"),
    ]);
  }
  if (R.naiveOrm) {
    const bare = R.updateProgress?.bare?.median;
    rows.push([
      "naive ORM UpdateProgress calls/s (fork/findOne/assign/flush)",
      `${f0(R.naiveOrm.median)} [s${R.naiveOrm.serverCpu}%]`,
      bare ? `bare ${f0(bare)}` : "",
      bare ? `${f2(R.naiveOrm.median / bare)}× bare` : "",
      "reference",
      "",
    ]);
  }
  if (bullRate) {
    rows.push(["BullMQ job.updateProgress /s (64 in flight, Redis)", "", f0(bullRate), `client cpu ${R.bullmq.updateProgress.clientCpu}%`, "reference", ""]);
  }
  const bullP99: number | undefined = R.bullmq?.queueEvents?.p99;
  if (R.fanout) {
    for (const n of [...FANOUT_LEVELS, ...(FANOUT_WIDE ? [FANOUT_WIDE.watchers] : [])]) {
      const l: Latency | undefined = R.fanout.levels[n];
      if (!l) continue;
      const lost = l.expected - l.received;
      let target = "—";
      let v = "";
      if (n === 100) {
        target = "p99 ≤ BullMQ p99";
        v = bullP99 === undefined ? "n/a" : verdict("fan-out 100 p99 ≤ BullMQ QueueEvents p99", l.p99, l.p99 <= bullP99 && lost === 0, f2(bullP99));
      }
      if (n === 1000) {
        target = "p99 ≤ 30 ms, none lost";
        v = verdict("fan-out 1,000 p99 ≤ 30 ms, none lost", l.p99, l.p99 <= 30 && lost === 0, "30");
      }
      if (n === 10_000) {
        target = "p99 ≤ 100 ms, none lost";
        v = verdict("fan-out 10,000 p99 ≤ 100 ms, none lost", l.p99, l.p99 <= 100 && lost === 0, "100");
      }
      rows.push([
        `fan-out ${f0(n)} watcher${n > 1 ? "s" : ""}: delivery p50/p99 ms (${l.rate ?? FANOUT_RATE} ev/s)`,
        `${f2(l.p50)} / ${f2(l.p99)} (max ${f1(l.max)})`,
        n === 100 && R.bullmq?.queueEvents
          ? `BullMQ QueueEvents ${f2(R.bullmq.queueEvents.p50)} / ${f2(R.bullmq.queueEvents.p99)}`
          : "",
        `recv ${l.received}/${l.expected}; ack p99 ${f1(l.ackP99)} ms; srv ${f1(l.serverUsPerDelivery)} µs/deliv` +
          (l.watcherUsPerReceipt !== undefined ? ` (${f1(l.serverUsPerDeliveryToLast)} to last), watchers ${f1(l.watcherUsPerReceipt)} µs/recv` : "") +
          `; machine ${l.machineCpu}%`,
        target,
        v,
      ]);
    }
  }
  if (R.memory?.taskcontrol) {
    const m = R.memory.taskcontrol;
    // The figure 1.5 s after the streams opened (the garbage of opening them still counted).
    const atOnce = (x: number | undefined) => (x === undefined ? "" : ` (${f1(x)} at once)`);
    const releasedNote = (ms: number | undefined) => (ms === undefined ? "" : ` (${(ms / 1000).toFixed(0)} s later)`);
    const b = R.memory.bare;
    rows.push([
      `RSS per idle WatchTasks stream (${f0(R.memory.held)})`,
      `${f1(m.perWatchKiB)} KiB${atOnce(m.perWatchAtOnceKiB)}`,
      b ? `bare grpc-js ${f1(b.perStreamKiB)} KiB${atOnce(b.perStreamAtOnceKiB)}` : "",
      `RSS ${f0(m.rssBaseKiB)} → ${f0(m.rssWatchesKiB)} KiB once V8 released the garbage${releasedNote(m.releaseWaitMs?.watches)}`,
      "≤ 12 KiB",
      verdict("≤ 12 KiB per idle WatchTasks stream", m.perWatchKiB, m.perWatchKiB <= 12, "12"),
    ]);
    rows.push([
      `RSS per held RequestConfirmation (${f0(R.memory.held)})`,
      `${f1(m.perConfirmationKiB)} KiB${atOnce(m.perConfirmationAtOnceKiB)}`,
      b ? `bare grpc-js ${f1(b.perStreamKiB)} KiB${atOnce(b.perStreamAtOnceKiB)}` : "",
      `RSS ${f0(m.rssWatchesKiB)} → ${f0(m.rssConfirmationsKiB)} KiB once V8 released the garbage${releasedNote(m.releaseWaitMs?.confirmations)}`,
      "≤ 14 KiB",
      verdict("≤ 14 KiB per held RequestConfirmation", m.perConfirmationKiB, m.perConfirmationKiB <= 14, "14"),
    ]);
  }
  if (R.replicas && !R.replicas.unreachable) {
    const rp = R.replicas;
    rows.push([
      "UpdateProgress on PostgreSQL: 2 replicas vs 1 (calls/s)",
      `2 replicas ${f0(rp.twoPostgres.callsPerSecond)}`,
      `1 replica ${f0(rp.onePostgres.callsPerSecond)}`,
      `${f2(rp.ratio)}×; other-replica delivery p50/p99 ${rp.twoPostgres.otherReplicaDeliveryP50Ms} / ${rp.twoPostgres.otherReplicaDeliveryP99Ms} ms; ` +
        `answer on B → worker held on A p50 ${rp.confirmation.otherReplica.p50Ms} ms`,
      "reference (docs/scaling.md)",
      "",
    ]);
  }
  if (R.million?.rows) {
    for (const row of R.million.rows as string[][]) rows.push(row);
    for (const t of R.million.targets ?? []) targets.push(t);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`;
  const text = [line(rows[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
  return { text, targets };
}

function machine() {
  let commit = "";
  let dirty: string[] = [];
  try {
    commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "gen", "proto"], { cwd: ROOT, encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch {
    // not a git checkout
  }
  const c = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: c.length,
    cpuModel: c[0]?.model ?? "",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverageAtStart: LOAD_AT_START,
    loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))),
    commit,
    dirtySources: dirty,
  };
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (ENTRY === "dist") execFileSync(process.execPath, [join(ROOT, "scripts/build-if-stale.mjs")], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-bench-"));
  const stops: (() => Promise<unknown>)[] = [];
  const onSignal = () => {
    log("interrupted: stopping children");
    Promise.allSettled(stops.map((s) => s())).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const m0 = machineBusySeconds();
    await sleep(1000);
    const idleOther = Math.round(100 * (machineBusySeconds() - m0));
    results.otherCpuBeforeStartPct = idleOther;
    if (idleOther > 20) {
      const warning = `the machine was not idle: other processes used ${idleOther}% of a core before the run started; calls/s and latencies are noisy, µs/call less so`;
      notes.push(warning);
      log(`warning: ${warning}`);
    }
    if (opts.profile) mkdirSync(PROFILE_DIR, { recursive: true });
    const needSvc = ["unary", "serial", "stream", "fanout", "cancel"].some((s) => only.has(s));
    const needBare = ["unary", "serial", "stream", "memory"].some((s) => only.has(s));
    const needAgents = ["fanout", "bullmq", "memory"].some((s) => only.has(s));
    const svc = needSvc
      ? await startServerProcess({
          db: join(dir, "bench.sqlite"),
          args: SERVER_ARGS,
          entry: ENTRY,
          env: {
            ...SERVER_ENV,
            ...(opts.profile
              ? {
                  // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preloaded hook drives the profiler.
                  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${join(ROOT, "bench/cpu-profile-hook.mjs")}`.trim(),
                  BENCH_CPU_PROFILE_DIR: PROFILE_DIR,
                }
              : {}),
          },
        })
      : undefined;
    if (svc) stops.push(() => svc.stop());
    track(svc?.child.pid);
    const bare = needBare ? await startBenchServer("bare") : undefined;
    if (bare) stops.push(() => bare.stop());
    track(bare?.pid);
    const agents = needAgents ? await Promise.all([startAgent("w0"), startAgent("w1")]) : [];
    for (const a of agents) stops.push(() => a.stop());
    for (const a of agents) track(a.pid);
    log(`service ${svc?.grpcAddress ?? "-"} (pid ${svc?.child.pid ?? "-"}), bare ${bare?.address ?? "-"}, ${agents.length} watcher processes`);

    const svcClient = svc ? grpcClient(svc.grpcAddress) : undefined;
    const bareClient = bare ? grpcClient(bare.address) : undefined;
    try {
      const ids = svcClient && (only.has("unary") || only.has("serial") || only.has("stream")) ? await createTasks(svcClient, `bench-load-${RUN}`, TASKS) : [];
      if (ids.length) log(`${TASKS} tasks created`);
      if (only.has("unary")) await sectionUnary(svc!, bare!, svcClient!, bareClient!, ids);
      if (only.has("serial")) await sectionSerial(svcClient!, bareClient!, ids);
      if (only.has("stream")) await sectionStream(svc!, bare!, svcClient!, bareClient!, ids);
      if (only.has("fanout")) await sectionFanout(svc!, svcClient!, agents);
      if (only.has("cancel")) await sectionCancel(svc!, svcClient!);
      if (only.has("bullmq")) await sectionBull(agents);
      if (only.has("naive")) await sectionNaive(bare, bareClient);
      if (svc) {
        svcClient?.close();
        const code = await svc.stop();
        if (code !== 0) notes.push(`service exited with ${code}: ${svc.output().slice(-2000)}`);
        if (opts.profile) {
          const files = readdirSync(PROFILE_DIR).filter((f) => f.includes(`.${svc.child.pid}.`));
          for (const f of files) log(`profile: ${join(PROFILE_DIR, f)}`);
          notes.push(`profiles of the service: ${files.map((f) => join("bench/results/profiles", f)).join(", ")}`);
        }
        const warn = svc.output().split("\n").filter((l) => /"level":(4|5|6)0/.test(l));
        if (warn.length) notes.push(`service logged ${warn.length} warnings/errors, first: ${warn[0]!.slice(0, 300)}`);
      }
      if (only.has("memory")) await sectionMemory(dir, bare!, agents);
      if (only.has("replicas")) await sectionReplicas(dir);
      if (only.has("million")) await sectionMillion(dir);
    } finally {
      svcClient?.close();
      bareClient?.close();
    }
  } finally {
    await Promise.allSettled(stops.map((s) => s()));
    rmSync(dir, { recursive: true, force: true });
  }

  const { text, targets } = table();
  const out = {
    machine: machine(),
    settings: {
      entry: ENTRY,
      inflight: INFLIGHT,
      tasks: TASKS,
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      streams: STREAMS,
      fanout: { levels: FANOUT_LEVELS, rate: FANOUT_RATE, seconds: FANOUT_SECONDS, wide: FANOUT_WIDE ?? null },
      held: HELD,
      serverArgs: SERVER_ARGS,
      profile: opts.profile,
      quick: QUICK,
      sections: [...only],
    },
    results,
    targets,
    /** The printed table: the README's performance block (npm run docs) is this text. */
    table: text,
    notes,
    cpu: runCpu(),
    totalSeconds: Math.round((nowMs() - T0) / 1000),
  };
  console.log(`\ntaskcontrol benchmark — ${out.machine.date}, node ${out.machine.node}, ${out.machine.cpus} × ${out.machine.cpuModel}\n`);
  console.log(text);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(
    `\ntargets: ${targets.filter((t) => t.met).length}/${targets.length} met; total ${out.totalSeconds} s; ` +
      `CPU during the run: this benchmark ${out.cpu.oursPct}% of a core, other processes ${out.cpu.otherPct}% (2 cores = 200%)`,
  );
  if (opts.out !== "-") {
    mkdirSync(join(opts.out!, ".."), { recursive: true });
    writeFileSync(opts.out!, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`results: ${opts.out}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
