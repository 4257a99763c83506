/**
 * Two replicas on one PostgreSQL, measured side by side with one replica (PostgreSQL and
 * SQLite) in one run:  node --import tsx bench/replicas.ts [options]
 *
 *   --seconds S      length of each throughput run (default 5)
 *   --inflight N     UpdateProgress calls in flight in total, split over the replicas (default 64)
 *   --tasks N        tasks the updates spread over (default 200)
 *   --rate R         paced updates per second for the idle-latency rows (default 100)
 *   --rounds N       confirmation round trips per row (default 40)
 *   --out FILE       also write the results as JSON (default: none)
 *   --only a,b       sections: sqlite, throughput (the PostgreSQL 1 vs 2 replica rows), delivery
 *                    (idle delivery, confirmations, live lines), commit (commit path); default all
 *   --repeat N       interleaved rounds of the two PostgreSQL throughput rows (default 1); the
 *                    ratio printed is the median of the rounds' ratios
 *   --profile DIR    CPU-profile every replica (bench/cpu-profile-hook.mjs): DIR/CPU.<pid>.cpuprofile
 *   --affinity       each lane updates only tasks created on its own replica (as a worker whose
 *                    channel stays on one replica), so the replicas never race for a task's row
 *   --sample         also sample pg_stat_activity + pg_locks every 5 ms during the PostgreSQL
 *                    throughput rows: share of time the commit lock is held, what its holder
 *                    does meanwhile, waiters (the sampler costs CPU: judge µs/call without it)
 *
 * Rows:
 *   throughput       UpdateProgress calls/s acknowledged, call latency p50/p99, PostgreSQL write
 *                    transactions/s (transaction ids used), events per write, read-only
 *                    transactions/s (mostly the feeds reading other replicas' commits), and how
 *                    long a watcher on the other replica waited for each event (call start →
 * *                    received); under it the CPU per call of the replicas, of the database's
 *                    backends and of this client (/proc), and the machine's busy share
 *   delivery (idle)  one paced writer; a watcher on the same replica and one on the other
 *   confirmation     RequestConfirmation held on A, answered on A or on B: answer call start →
 *                    the held call's `resolved`
 *   live lines       EmitProgress as fast as 16 lanes go on A; lines/s seen by a watcher on A and on B
 *   commit path      no gRPC: 1 or 2 stores (each with its feed, as replicas have) in this
 *                    process on one PostgreSQL, UpdateProgress mutations from 128 lanes, one
 *                    mutation per transaction or group-committed: the ceiling of the shared,
 *                    advisory-locked commit path itself
 *
 * The client runs in this process on the same machine as the replicas and PostgreSQL, so
 * absolute figures are lower bounds; the ratios are the point.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { grpcClient, type GrpcTestClient } from "../test/support/grpc-client.js";
import { createTask, holdConfirmation, REPLACE_SURFACE } from "../test/support/flows.js";
import { createTestDatabase, type TestDatabase } from "../test/support/pg.js";
import { type ServerProcess, startServerProcess } from "../test/support/server-process.js";
import type { WatchTasksResponse } from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { nowMs, percentile, ROOT, sleep } from "./lib.js";
import { commitPath } from "./commit-path.js";
import { CORES, pgCounters, startCpuProbe, startLockSampler } from "./pg-probe.js";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    inflight: { type: "string", default: "64" },
    tasks: { type: "string", default: "200" },
    rate: { type: "string", default: "100" },
    rounds: { type: "string", default: "40" },
    out: { type: "string" },
    only: { type: "string", default: "sqlite,throughput,delivery,commit" },
    repeat: { type: "string", default: "1" },
    sample: { type: "boolean", default: false },
    profile: { type: "string" },
    affinity: { type: "boolean", default: false },
  },
});
const ONLY = new Set(flags.only.split(","));
const REPEAT = Number(flags.repeat);
const SECONDS = Number(flags.seconds);
const INFLIGHT = Number(flags.inflight);
const TASKS = Number(flags.tasks);
const RATE = Number(flags.rate);
const ROUNDS = Number(flags.rounds);
const SERVER_ARGS = ["--log-level", "warn"];
const PROFILE_ENV: Record<string, string> = flags.profile
  ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${join(ROOT, "bench/cpu-profile-hook.mjs")}`.trim(), BENCH_CPU_PROFILE_DIR: flags.profile }
  : {};

interface Node {
  server: ServerProcess;
  client: GrpcTestClient;
}

interface Setup {
  name: string;
  nodes: Node[];
  database?: TestDatabase;
  stop(): Promise<void>;
}

async function setup(name: string, kind: "sqlite" | "postgres", replicas: number): Promise<Setup> {
  let database: TestDatabase | undefined;
  let dir: string | undefined;
  let db: string;
  if (kind === "postgres") {
    database = await createTestDatabase("taskcontrol_bench");
    db = database.url;
  } else {
    dir = mkdtempSync(join(tmpdir(), "taskcontrol-bench-replicas-"));
    db = join(dir, "bench.sqlite");
  }
  const servers = await Promise.all(Array.from({ length: replicas }, () => startServerProcess({ db, args: SERVER_ARGS, env: PROFILE_ENV })));
  const nodes = servers.map((server) => ({ server, client: grpcClient(server.grpcAddress) }));
  return {
    name,
    nodes,
    ...(database ? { database } : {}),
    async stop() {
      for (const n of nodes) n.client.close();
      await Promise.all(nodes.map((n) => n.server.stop()));
      await database?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const isPersistedProgress = (e: WatchTasksResponse) => e.event.case === "progress" && e.event.value.persisted;

/** UpdateProgress from INFLIGHT lanes split over the replicas; a watcher on the last replica times each event. */
async function throughput(s: Setup) {
  const owner = "bench";
  const tasks = await Promise.all(Array.from({ length: TASKS }, (_, i) => createTask(s.nodes[i % s.nodes.length]!.client, owner)));
  const watcherNode = s.nodes[s.nodes.length - 1]!;
  const sentAt = new Map<string, { t: number; remote: boolean }>();
  const delivery: number[] = [];
  const ui = watchStream(watcherNode.client, { owner }, (e, t) => {
    if (!isPersistedProgress(e) || e.event.case !== "progress") return;
    const sent = sentAt.get(e.event.value.label);
    if (sent?.remote) delivery.push(t - sent.t);
  });
  await sleep(200);
  const countersBefore = s.database ? await pgCounters(s.database) : { all: 0, writes: 0, rollbacks: 0 };
  const cpuProbe = await startCpuProbe(s.database, s.nodes.map((n) => n.server.child.pid!));
  const sampler = flags.sample && s.database ? await startLockSampler(s.database) : null;
  const latencies: number[] = [];
  let calls = 0;
  const started = nowMs();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async (_, lane) => {
      const node = s.nodes[lane % s.nodes.length]!;
      for (let n = 0; nowMs() < deadline; n++) {
        const label = `${lane}/${n}`;
        const t0 = nowMs();
        sentAt.set(label, { t: t0, remote: node !== watcherNode });
        // With --affinity a lane updates only tasks created on its replica (a worker's channel
        // stays on one replica); without, both replicas update every task and race for its row.
        const k = s.nodes.length;
        const i = flags.affinity ? (((lane * 7 + n) % Math.floor(TASKS / k)) * k + (lane % k)) % TASKS : (lane * 7 + n) % TASKS;
        await node.client.unary("UpdateProgress", { taskId: tasks[i]!.id, progress: (n % 100) / 100, label });
        latencies.push(nowMs() - t0);
        calls++;
      }
    }),
  );
  const elapsed = (nowMs() - started) / 1000;
  const cpu = await cpuProbe.stop(calls);
  const lock = await sampler?.stop();
  const countersAfter = s.database ? await pgCounters(s.database) : { all: 0, writes: 0, rollbacks: 0 };
  // Write transactions take an id whether they commit or roll back (a lost race re-runs the batch).
  const rollbacks = countersAfter.rollbacks - countersBefore.rollbacks;
  const writes = countersAfter.writes - countersBefore.writes - rollbacks;
  // The counters' own query is one read-only transaction (and the sampler's, one each).
  const reads = countersAfter.all - countersBefore.all - writes - 1 - (lock?.samples ?? 0);
  await sleep(500);
  ui.stop();
  return {
    callsPerSecond: round(calls / elapsed, 0),
    callP50Ms: round(percentile(latencies, 50)),
    callP99Ms: round(percentile(latencies, 99)),
    ...(s.database
      ? {
          pgWritesPerSecond: round(writes / elapsed, 0),
          eventsPerWrite: round(calls / Math.max(1, writes)),
          pgReadsPerSecond: round(reads / elapsed, 0),
          pgRollbacksPerSecond: round(rollbacks / elapsed, 1),
        }
      : {}),
    ...(delivery.length > 0
      ? {
          otherReplicaDeliveryP50Ms: round(percentile(delivery, 50)),
          otherReplicaDeliveryP99Ms: round(percentile(delivery, 99)),
        }
      : {}),
    cpu,
    ...(lock ? { lock, lockHeldMsPerWrite: round((lock.heldPct * 10 * elapsed) / Math.max(1, writes), 2) } : {}),
  };
}

/** A watch whose events are timestamped on arrival. */
function watchStream(client: GrpcTestClient, request: object, onEvent: (e: WatchTasksResponse, t: number) => void) {
  const { responses, call } = client.serverStream<WatchTasksResponse>("WatchTasks", request);
  const done = (async () => {
    try {
      for await (const e of responses) onEvent(e, nowMs());
    } catch {
      // cancelled
    }
  })();
  return {
    stop() {
      call.cancel();
      return done;
    },
  };
}

/** One paced writer on the first replica; watchers on every replica. */
async function deliveryIdle(s: Setup) {
  const owner = "paced";
  const task = await createTask(s.nodes[0]!.client, owner);
  const sentAt = new Map<string, number>();
  const perNode = s.nodes.map(() => [] as number[]);
  const watchers = s.nodes.map((n, i) =>
    watchStream(n.client, { owner }, (e, t) => {
      if (e.event.case !== "progress" || !e.event.value.persisted) return;
      const t0 = sentAt.get(e.event.value.label);
      if (t0 !== undefined) perNode[i]!.push(t - t0);
    }),
  );
  await sleep(200);
  const total = RATE * Math.min(SECONDS, 5);
  for (let i = 0; i < total; i++) {
    const label = `p${i}`;
    sentAt.set(label, nowMs());
    await s.nodes[0]!.client.unary("UpdateProgress", { taskId: task.id, progress: i / total, label });
    await sleep(1000 / RATE);
  }
  await sleep(500);
  await Promise.all(watchers.map((w) => w.stop()));
  return perNode.map((l) => ({ received: l.length, p50Ms: round(percentile(l, 50), 2), p99Ms: round(percentile(l, 99), 2) }));
}

/** Held on the first replica, answered on `answerOn`: answer call start → `resolved` on the held call. */
async function confirmations(s: Setup, answerOn: Node) {
  const worker = s.nodes[0]!;
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const task = await createTask(worker.client, "asker");
    const held = holdConfirmation(worker.client, { taskId: task.id, title: "Go on?", components: REPLACE_SURFACE });
    const [pending] = await held.waitFor(1);
    const id = pending!.event.case === "pending" ? pending!.event.value.confirmation!.id : "";
    // The answering replica must know of it (a UI answers what its watcher showed).
    await sleep(20);
    const t0 = nowMs();
    await answerOn.client.unary("ResolveConfirmation", { confirmationId: id, action: "system.task.confirm_replace" });
    await held.waitFor(2, 10_000);
    times.push(nowMs() - t0);
    await held.done;
  }
  return { rounds: times.length, p50Ms: round(percentile(times, 50), 2), p99Ms: round(percentile(times, 99), 2) };
}

/** EmitProgress at full speed on the first replica; lines a watcher on each replica receives. */
async function liveLines(s: Setup) {
  const owner = "emitter";
  const tasks = await Promise.all(Array.from({ length: 16 }, () => createTask(s.nodes[0]!.client, owner)));
  const counts = s.nodes.map(() => 0);
  const watchers = s.nodes.map((n, i) =>
    watchStream(n.client, { owner }, (e) => {
      if (e.event.case === "progress" && !e.event.value.persisted) counts[i]!++;
    }),
  );
  await sleep(200);
  let emitted = 0;
  const started = nowMs();
  const deadline = started + Math.min(SECONDS, 3) * 1000;
  await Promise.all(
    tasks.map(async (task) => {
      for (let n = 0; nowMs() < deadline; n++) {
        await s.nodes[0]!.client.unary("EmitProgress", { taskId: task.id, label: `line ${n}` });
        emitted++;
      }
    }),
  );
  const elapsed = (nowMs() - started) / 1000;
  await sleep(300);
  await Promise.all(watchers.map((w) => w.stop()));
  return {
    emittedPerSecond: round(emitted / elapsed, 0),
    receivedPerSecond: counts.map((c) => round(c / elapsed, 0)),
  };
}

type Row = Awaited<ReturnType<typeof throughput>>;

/** One throughput row's cells, and the line of CPU (and commit-lock sampling) under it. */
function rowCells(name: string, r: Row): string[] {
  const d = r.otherReplicaDeliveryP50Ms === undefined ? "-" : `${r.otherReplicaDeliveryP50Ms} / ${r.otherReplicaDeliveryP99Ms}`;
  return [name, String(r.callsPerSecond), `${r.callP50Ms} / ${r.callP99Ms}`, String(r.pgWritesPerSecond ?? "-"), String(r.eventsPerWrite ?? "-"), String(r.pgReadsPerSecond ?? "-"), String(r.pgRollbacksPerSecond ?? "-"), d];
}

function cpuLine(r: Row): string {
  const c = r.cpu;
  const total = c.replicaUsPerCall + c.pgUsPerCall + c.clientUsPerCall;
  let line =
    `    cpu µs/call: replicas ${c.replicaUsPerCall} + PostgreSQL backends ${c.pgUsPerCall} + client ${c.clientUsPerCall} = ${total}` +
    ` → ${c.ownBusyPct}% of one core at ${r.callsPerSecond}/s (machine busy ${c.machineBusyPct}% of ${CORES * 100}%)`;
  if (r.lock) {
    line += `\n    commit lock held ${r.lock.heldPct}% of ${r.lock.samples} samples (${r.lockHeldMsPerWrite} ms per write tx), ${r.lock.meanWaiters} waiting;`;
    line += ` holder: ${JSON.stringify(r.lock.holderDoing)}; others active: ${JSON.stringify(r.lock.othersDoing)}`;
  }
  return line;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    machine: { date: new Date().toISOString(), node: process.version, cpus: cpus().length, loadAverageAtStart: loadavg() },
    settings: { seconds: SECONDS, inflight: INFLIGHT, tasks: TASKS, rate: RATE, rounds: ROUNDS, repeat: REPEAT, affinity: flags.affinity },
  };
  const header = ["row", "calls/s", "call p50/p99 ms", "PG write tx/s", "events/write tx", "PG read tx/s", "rollbacks/s", "other-replica delivery p50/p99 ms"];
  const lines: (string[] | string)[] = [];
  const tp: Record<string, Row> = {};
  const rounds: Record<string, Row>[] = [];
  const plan: [string, "sqlite" | "postgres", number, number][] = [];
  if (ONLY.has("sqlite")) plan.push(["sqlite, 1 replica", "sqlite", 1, 0]);
  if (ONLY.has("throughput") || ONLY.has("delivery")) {
    for (let i = 0; i < (ONLY.has("throughput") ? REPEAT : 1); i++) {
      // Interleaved, and the order alternates: neither row always runs on a warmer machine.
      const pair: [string, "postgres", number, number][] = [["postgres, 1 replica", "postgres", 1, i], ["postgres, 2 replicas", "postgres", 2, i]];
      plan.push(...(i % 2 === 0 ? pair : pair.reverse()));
    }
  }
  for (const [name, kind, n, i] of plan) {
    if (kind === "postgres" && n === 1 && !ONLY.has("throughput")) continue;
    const s = await setup(name, kind, n);
    try {
      if (kind === "sqlite" || ONLY.has("throughput")) {
        const r = await throughput(s);
        (rounds[i] ??= {})[name] = r;
        lines.push(rowCells(REPEAT > 1 && kind === "postgres" ? `${name} #${i + 1}` : name, r), cpuLine(r));
      }
      if (n === 2 && i === 0 && ONLY.has("delivery")) {
        results.deliveryIdle = await deliveryIdle(s);
        results.confirmation = { sameReplica: await confirmations(s, s.nodes[0]!), otherReplica: await confirmations(s, s.nodes[1]!) };
        results.liveLines = await liveLines(s);
      }
    } finally {
      await s.stop();
    }
  }
  const pgRounds = rounds.filter((r) => r["postgres, 1 replica"] && r["postgres, 2 replicas"]);
  const ratios = pgRounds.map((r) => r["postgres, 2 replicas"]!.callsPerSecond / r["postgres, 1 replica"]!.callsPerSecond);
  for (const name of ["sqlite, 1 replica", "postgres, 1 replica", "postgres, 2 replicas"]) {
    // The round of the median ratio stands for the run (both rows of it, measured side by side).
    const pick = pgRounds.length > 0 && name !== "sqlite, 1 replica" ? pgRounds[ratios.indexOf(median(ratios))]! : rounds[0];
    if (pick?.[name]) tp[name] = pick[name]!;
  }
  results.throughput = tp;
  if (pgRounds.length > 1) results.throughputRounds = pgRounds;
  results.machine = { ...(results.machine as object), loadAverageAtEnd: loadavg() };

  const table = lines.filter((l): l is string[] => Array.isArray(l));
  const widths = header.map((_, c) => Math.max(...[header, ...table].map((r) => r[c]!.length)));
  if (lines.length > 0) {
    console.log(`\nUpdateProgress, ${INFLIGHT} in flight over ${TASKS} tasks, ${SECONDS}s per row`);
    for (const r of [header, ...lines]) console.log(typeof r === "string" ? r : r.map((v, c) => v.padEnd(widths[c]!)).join("  "));
  }
  const [sqlite, pg1, pg2] = [tp["sqlite, 1 replica"], tp["postgres, 1 replica"], tp["postgres, 2 replicas"]];
  if (sqlite && pg1) console.log(`ratio: postgres 1 replica / sqlite = ${round(pg1.callsPerSecond / sqlite.callsPerSecond, 2)}`);
  if (pg1 && pg2) console.log(`ratio: postgres 2 replicas / 1 replica = ${round(median(ratios), 2)} (median of ${ratios.length} interleaved rounds: ${ratios.map((x) => round(x, 2)).join(", ")})`);
  if (results.deliveryIdle) {
    const d = results.deliveryIdle as { received: number; p50Ms: number; p99Ms: number }[];
    console.log(`\ndelivery at ${RATE} updates/s, writer on A: watcher on A p50/p99 ${d[0]!.p50Ms}/${d[0]!.p99Ms} ms, on B ${d[1]!.p50Ms}/${d[1]!.p99Ms} ms (${d[1]!.received} events)`);
    const c = results.confirmation as Record<"sameReplica" | "otherReplica", { p50Ms: number; p99Ms: number }>;
    console.log(`confirmation answer → held call, held on A: answered on A p50/p99 ${c.sameReplica.p50Ms}/${c.sameReplica.p99Ms} ms, on B ${c.otherReplica.p50Ms}/${c.otherReplica.p99Ms} ms`);
    const l = results.liveLines as { emittedPerSecond: number; receivedPerSecond: number[] };
    console.log(`live lines: ${l.emittedPerSecond}/s emitted on A (16 tasks); watcher on A got ${l.receivedPerSecond[0]}/s, on B ${l.receivedPerSecond[1]}/s (coalesced per task)`);
  }
  if (ONLY.has("commit")) {
    const paths: Record<string, Awaited<ReturnType<typeof commitPath>>> = {};
    console.log(`\ncommit path without gRPC, 128 lanes of UpdateProgress mutations:`);
    for (const [stores, maxBatch] of [[1, 1], [2, 1], [1, 2000], [2, 2000]] as const) {
      const name = `${stores} store${stores > 1 ? "s" : ""}, ${maxBatch === 1 ? "one mutation per transaction" : "group commit"}`;
      const r = await commitPath(stores, maxBatch, { tasks: TASKS, seconds: Math.min(SECONDS, 3) });
      paths[name] = r;
      console.log(`  ${name.padEnd(42)} ${String(r.eventsPerSecond).padStart(6)} events/s  ${String(r.writeTxPerSecond).padStart(5)} write tx/s  ${String(r.readTxPerSecond).padStart(5)} feed read tx/s`);
    }
    results.commitPath = paths;
  }
  if (flags.out) writeFileSync(flags.out, `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
