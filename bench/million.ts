/**
 * A million tasks, side by side with 5,000:  node --import tsx bench/million.ts [options]
 * (`npm run bench:million`).
 *
 *   --tasks N      the large database (default 1,000,000; --quick 100,000)
 *   --small N      the small one (default 5,000)
 *   --rounds N     interleaved rounds per measure (default 4; --quick 2)
 *   --round-ms MS  length of one round (default 2000; --quick 1000)
 *   --restarts N   restarts timed per database (default 3; --quick 2)
 *   --seeded DIR   keep the seeded databases in DIR and start from copies of them next time
 *                  (seeding a million tasks takes a minute or more; without it, a temp dir)
 *   --out FILE     JSON results (default bench/results/million.json; "-" writes none)
 *   --entry E      dist (default: the compiled server `npm start` runs, built first if stale
 *                  by scripts/build-if-stale.mjs) or tsx (the sources through tsx, as tests run)
 *
 * Seeds two SQLite databases (bench/million-seed.ts: one in ten tasks unfinished, the event
 * log as the default retention keeps it) in a temp dir, starts the real server on each and
 * measures, alternating small and large: restart to serving (spawn → first answered GetTask,
 * and → health Check SERVING), UpdateProgress calls/s with 64 in flight over the same number
 * of running tasks spread through each table, GetTask p50/p99 one call at a time (unfinished
 * tasks, held in memory; finished ones drawn at random, mostly read from the database at 1M),
 * ListTasks pages p50/p99 (first and deep, with the page token; owner filter; status filter),
 * and the database's bytes (file + WAL) per task. Each row has issue 17's verdict.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { GetTaskRequestSchema, ListTasksRequestSchema, type ListTasksResponse, UpdateProgressRequestSchema } from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../gen/taskcontrol/v1/task_pb.js";
import { grpcClient, type GrpcTestClient } from "../test/support/grpc-client.js";
import { healthClient } from "../test/support/health-client.js";
import { freePort, type ServerProcess, startServerProcess } from "../test/support/server-process.js";
import { cpuSeconds, drive, encode, INFLIGHT, nowMs, percentile, ROOT, sleep, unarySender } from "./lib.js";
import { databaseBytes, ownerAt, seededFrom, seedMillion, type Seeded, statusAt } from "./million-seed.js";

const { values: opts } = parseArgs({
  options: {
    tasks: { type: "string" },
    small: { type: "string", default: "5000" },
    rounds: { type: "string" },
    "round-ms": { type: "string" },
    restarts: { type: "string" },
    out: { type: "string", default: join(ROOT, "bench/results/million.json") },
    quick: { type: "boolean", default: process.env.BENCH_QUICK === "1" },
    entry: { type: "string", default: "dist" },
    seeded: { type: "string" },
  },
});
if (opts.entry !== "dist" && opts.entry !== "tsx") throw new Error(`--entry: dist or tsx, not ${opts.entry}`);
/** Which server runs: restart to serving is what a user's `npm start` sees, not tsx's transpiling. */
const ENTRY = opts.entry as "dist" | "tsx";
const QUICK = opts.quick!;
const LARGE = Number(opts.tasks ?? (QUICK ? 100_000 : 1_000_000));
const SMALL = Number(opts.small);
const ROUNDS = Number(opts.rounds ?? (QUICK ? 2 : 4));
const ROUND_MS = Number(opts["round-ms"] ?? (QUICK ? 1000 : 2000));
const RESTARTS = Number(opts.restarts ?? (QUICK ? 2 : 3));
/** Running tasks the UpdateProgress rows write, the same number at both sizes. */
const WRITTEN = Math.min(400, Math.floor(SMALL / 12));
const T0 = nowMs();
const log = (...a: unknown[]) => console.error(`[million +${((nowMs() - T0) / 1000).toFixed(1)}s]`, ...a);

/** One database and the server on it. */
interface Side {
  readonly label: string;
  readonly db: string;
  readonly seed: Seeded;
  readonly seededBytes: { file: number; wal: number };
  svc?: ServerProcess;
  client?: GrpcTestClient;
}

/** `count` positions 0 ≤ i < n with `pick(i)`, spread evenly through the table. */
function spread(n: number, count: number, pick: (i: number) => boolean): number[] {
  const all: number[] = [];
  for (let i = 0; i < n; i++) if (pick(i)) all.push(i);
  const step = all.length / Math.min(count, all.length);
  return Array.from({ length: Math.min(count, all.length) }, (_, k) => all[Math.floor(k * step)]!);
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

/** Starts the server on side.db and times spawn → first answered GetTask and → SERVING. */
async function start(side: Side): Promise<{ firstAnswerMs: number; servingMs: number; lineMs: number; cpuMs: number }> {
  const grpcPort = await freePort();
  const t0 = nowMs();
  const started = startServerProcess({ db: side.db, grpcPort, args: ["--log-level", "warn"], timeoutMs: 120_000, entry: ENTRY });
  started.catch(() => undefined);
  // CPU the server used until its serving line: what a loaded machine does not stretch.
  const line = started.then((svc) => ({ ms: nowMs() - t0, cpuMs: cpuSeconds(svc.child.pid!) * 1000 }));
  while (!(await portOpen(grpcPort))) await sleep(2);
  const address = `127.0.0.1:${grpcPort}`;
  const client = grpcClient(address);
  const health = healthClient(address);
  const known = side.seed.ids[side.seed.ids.length - 1]!;
  const firstAnswer = (async () => {
    for (;;) {
      try {
        await client.unary("GetTask", { taskId: known });
        return nowMs() - t0;
      } catch {
        await sleep(2);
      }
    }
  })();
  const serving = (async () => {
    for (;;) {
      const status = await new Promise<string>((resolve) => health.check({ service: "" }, (err, res) => resolve(err ? "" : res!.status)));
      if (status === "SERVING") return nowMs() - t0;
      await sleep(2);
    }
  })();
  const [firstAnswerMs, servingMs] = await Promise.all([firstAnswer, serving]);
  health.close();
  side.svc = await started;
  side.client = client;
  const { ms: lineMs, cpuMs } = await line;
  return { firstAnswerMs, servingMs, lineMs, cpuMs };
}

async function stop(side: Side): Promise<void> {
  side.client?.close();
  const code = await side.svc?.stop();
  if (code !== 0) throw new Error(`${side.label}: server exited with ${code}:\n${side.svc?.output().slice(-2000)}`);
  side.svc = undefined;
  side.client = undefined;
}

/** One caller awaiting each call for `ms`: latencies in ms. */
async function serial(send: (i: number) => Promise<unknown>, ms: number): Promise<number[]> {
  const lat: number[] = [];
  const end = nowMs() + ms;
  for (let i = 0; nowMs() < end; i++) {
    const t = nowMs();
    await send(i);
    lat.push(nowMs() - t);
  }
  return lat;
}

/** A page token for the page after position i, under the filters `request` carries. */
async function tokenAfter(side: Side, request: object, i: number): Promise<string> {
  // The token is opaque to clients; the bench takes one the server issued for these filters
  // and moves its place (create time, id) to position i, as paging down to there would.
  const res = await side.client!.unary<ListTasksResponse>("ListTasks", { ...request, pageSize: 1 } as never);
  const t = JSON.parse(Buffer.from(res.nextPageToken, "base64url").toString("utf8")) as { c: number; i: string; f: string };
  return Buffer.from(JSON.stringify({ ...t, c: side.seed.createTimes[i], i: side.seed.ids[i] })).toString("base64url");
}

/** More than a ListTasks page (50 by default) older than a deep page's token. */
const FULL_PAGE = 60;

/** The ListTasks requests measured, by row name, for one side. */
async function listRequests(side: Side): Promise<Record<string, Buffer>> {
  const n = side.seed.tasks;
  // The token's place: the middle of the matching tasks, but with a full page (and more)
  // older than it at both sizes, so both sides read a whole page.
  const mid = (pick: (i: number) => boolean) => {
    const matching: number[] = [];
    for (let i = 0; i < n; i++) if (pick(i)) matching.push(i);
    const k = Math.max(FULL_PAGE, Math.floor(matching.length / 2));
    if (matching.length <= k) throw new Error(`only ${matching.length} tasks match: no full deep page`);
    return matching[k]!;
  };
  // The big owner (a fifth of all tasks): its deep page with one status is a full page at 5,000 too.
  const owner = ownerAt(0);
  const byOwner = (i: number) => ownerAt(i) === owner;
  const running = (i: number) => statusAt(i) === "running";
  const status = { statuses: [TaskStatus.RUNNING] };
  // Several statuses: no one index range is in page order; SQLite reads each status's range
  // of tasks_status_create_idx newest first and stops each once the page is full.
  const two = { statuses: [TaskStatus.RUNNING, TaskStatus.STALLED] };
  const runningOrStalled = (i: number) => statusAt(i) === "running" || statusAt(i) === "stalled";
  const both = { owner, statuses: [TaskStatus.RUNNING] };
  const req = (r: object) => encode(ListTasksRequestSchema, r);
  return {
    "first page": req({}),
    "deep page": req({ pageToken: await tokenAfter(side, {}, mid(() => true)) }),
    "owner, first page": req({ owner }),
    "owner, deep page": req({ owner, pageToken: await tokenAfter(side, { owner }, mid(byOwner)) }),
    "status RUNNING, first page": req(status),
    "status RUNNING, deep page": req({ ...status, pageToken: await tokenAfter(side, status, mid(running)) }),
    "RUNNING or STALLED, deep page": req({ ...two, pageToken: await tokenAfter(side, two, mid(runningOrStalled)) }),
    "owner + RUNNING, deep page": req({ ...both, pageToken: await tokenAfter(side, both, mid((i) => byOwner(i) && running(i))) }),
  };
}

type Lat = { p50: number[]; p99: number[]; us: number[] };
const summary = (l: Lat) => ({
  p50: Number(percentile(l.p50, 50).toFixed(3)),
  p99: Number(percentile(l.p99, 50).toFixed(3)),
  serverUsPerCall: Math.round(percentile(l.us, 50)),
});

async function main(): Promise<void> {
  if (ENTRY === "dist") execFileSync(process.execPath, [join(ROOT, "scripts/build-if-stale.mjs")], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-million-bench-"));
  const sides: Side[] = [];
  try {
    for (const [label, n] of [["small", SMALL], ["large", LARGE]] as const) {
      const db = join(dir, `${label}.sqlite`);
      const kept = opts.seeded && join(opts.seeded, `${n}.sqlite`);
      let seed: Seeded;
      if (kept && existsSync(kept)) {
        copyFileSync(kept, db);
        seed = await seededFrom(db, n);
        log(`${label}: ${n.toLocaleString("en-US")} tasks and ${seed.events.toLocaleString("en-US")} events copied from ${kept}`);
      } else {
        seed = await seedMillion(db, n);
        log(`${label}: seeded ${n.toLocaleString("en-US")} tasks and ${seed.events.toLocaleString("en-US")} events in ${seed.seconds.toFixed(1)} s`);
        if (kept) {
          mkdirSync(opts.seeded!, { recursive: true });
          copyFileSync(db, kept);
        }
      }
      sides.push({ label, db, seed, seededBytes: databaseBytes(db) });
    }
    const [small, large] = sides as [Side, Side];

    // Restart to serving, alternating; the last start of each stays up for the rest.
    const restarts = new Map<Side, { firstAnswerMs: number[]; servingMs: number[]; lineMs: number[]; cpuMs: number[] }>();
    for (const s of sides) restarts.set(s, { firstAnswerMs: [], servingMs: [], lineMs: [], cpuMs: [] });
    for (let r = 0; r < RESTARTS; r++) {
      for (const s of sides) {
        if (s.svc) await stop(s);
        const t = await start(s);
        const acc = restarts.get(s)!;
        acc.firstAnswerMs.push(t.firstAnswerMs);
        acc.servingMs.push(t.servingMs);
        acc.lineMs.push(t.lineMs);
        acc.cpuMs.push(t.cpuMs);
        log(`${s.label} start ${r + 1}: first answer ${t.firstAnswerMs.toFixed(0)} ms, SERVING ${t.servingMs.toFixed(0)} ms, server CPU ${t.cpuMs.toFixed(0)} ms`);
      }
    }

    // UpdateProgress, 64 in flight, over WRITTEN running tasks spread through each table.
    const updates = new Map<Side, Buffer[]>();
    for (const s of sides) {
      const at = spread(s.seed.tasks, WRITTEN, (i) => statusAt(i) === "running");
      updates.set(s, Array.from({ length: 4 * at.length }, (_, k) => encode(UpdateProgressRequestSchema, { taskId: s.seed.ids[at[k % at.length]!]!, progress: ((k % 97) + 1) / 100 })));
    }
    const rate = new Map<Side, { rates: number[]; us: number[]; errors: number }>(sides.map((s) => [s, { rates: [], us: [], errors: 0 }]));
    for (const s of sides) await drive(unarySender(s.client!, "UpdateProgress", updates.get(s)!), 1000);
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of sides) {
        const c0 = cpuSeconds(s.svc!.child.pid!);
        const x = await drive(unarySender(s.client!, "UpdateProgress", updates.get(s)!), ROUND_MS, INFLIGHT);
        const acc = rate.get(s)!;
        acc.rates.push(x.rate);
        acc.us.push(((cpuSeconds(s.svc!.child.pid!) - c0) * 1e6) / Math.max(1, x.done));
        acc.errors += x.errors;
        log(`UpdateProgress ${s.label} round ${r + 1}: ${x.rate.toFixed(0)}/s${x.errors ? `, ${x.errors} errors: ${x.firstError}` : ""}`);
      }
    }

    // Latencies one call at a time: GetTask, then each ListTasks request.
    const reads = new Map<Side, Record<string, Buffer[]>>();
    for (const s of sides) {
      const ids = s.seed.ids;
      const unfinished = spread(s.seed.tasks, 1000, (i) => i % 10 === 0);
      const finished = Array.from({ length: 4000 }, (_, k) => {
        let i = Math.floor(((k * 2654435761) % 4294967296) / 4294967296 * ids.length);
        while (i % 10 === 0) i = (i + 1) % ids.length;
        return i;
      });
      const lists = await listRequests(s);
      reads.set(s, {
        "GetTask, unfinished task": unfinished.map((i) => encode(GetTaskRequestSchema, { taskId: ids[i]! })),
        "GetTask, finished task (random)": finished.map((i) => encode(GetTaskRequestSchema, { taskId: ids[i]! })),
        ...Object.fromEntries(Object.entries(lists).map(([k, v]) => [`ListTasks ${k}`, [v]])),
      });
    }
    const latency: Record<string, Record<string, ReturnType<typeof summary>>> = {};
    for (const name of Object.keys(reads.get(small)!)) {
      const method = name.startsWith("GetTask") ? "GetTask" : "ListTasks";
      const acc = new Map<Side, Lat>(sides.map((s) => [s, { p50: [], p99: [], us: [] }]));
      for (const s of sides) await serial(unarySender(s.client!, method, reads.get(s)![name]!), 300);
      for (let r = 0; r < ROUNDS; r++) {
        for (const s of sides) {
          const c0 = cpuSeconds(s.svc!.child.pid!);
          const lat = await serial(unarySender(s.client!, method, reads.get(s)![name]!), ROUND_MS / 2);
          acc.get(s)!.p50.push(percentile(lat, 50));
          acc.get(s)!.p99.push(percentile(lat, 99));
          acc.get(s)!.us.push(((cpuSeconds(s.svc!.child.pid!) - c0) * 1e6) / lat.length);
        }
      }
      latency[name] = { small: summary(acc.get(small)!), large: summary(acc.get(large)!) };
      log(`${name}: p50 ${latency[name].small.p50} → ${latency[name].large.p50} ms, p99 ${latency[name].small.p99} → ${latency[name].large.p99} ms, srv ${latency[name].small.serverUsPerCall} → ${latency[name].large.serverUsPerCall} µs/call`);
    }
    for (const s of sides) await stop(s);

    const result = {
      when: new Date().toISOString(),
      settings: { entry: ENTRY, small: SMALL, large: LARGE, rounds: ROUNDS, roundMs: ROUND_MS, restarts: RESTARTS, inflight: INFLIGHT, written: WRITTEN, quick: QUICK },
      seeded: Object.fromEntries(sides.map((s) => [s.label, { tasks: s.seed.tasks, unfinished: Math.ceil(s.seed.tasks / 10), events: s.seed.events, seconds: Number(s.seed.seconds.toFixed(1)) }])),
      restart: Object.fromEntries(
        sides.map((s) => {
          const a = restarts.get(s)!;
          return [s.label, { firstAnswerMs: Math.round(percentile(a.firstAnswerMs, 50)), servingMs: Math.round(percentile(a.servingMs, 50)), servingLineMs: Math.round(percentile(a.lineMs, 50)), serverCpuMs: Math.round(percentile(a.cpuMs, 50)), all: a.firstAnswerMs.map(Math.round) }];
        }),
      ),
      updateProgress: Object.fromEntries(
        sides.map((s) => {
          const a = rate.get(s)!;
          return [s.label, { median: Math.round(percentile(a.rates, 50)), rounds: a.rates.map(Math.round), serverUsPerCall: Number(percentile(a.us, 50).toFixed(1)), errors: a.errors }];
        }),
      ),
      latency,
      bytes: Object.fromEntries(
        sides.map((s) => {
          const after = databaseBytes(s.db);
          return [s.label, { seeded: s.seededBytes, after, perTaskSeeded: Math.round((s.seededBytes.file + s.seededBytes.wal) / s.seed.tasks), perTaskAfter: Math.round((after.file + after.wal) / s.seed.tasks) }];
        }),
      ),
    };
    const { rows, targets } = millionRows(result);
    console.log(JSON.stringify(result, null, 2));
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
    if (opts.out !== "-") {
      mkdirSync(join(opts.out!, ".."), { recursive: true });
      writeFileSync(opts.out!, `${JSON.stringify({ ...result, rows, targets }, null, 2)}\n`);
    }
  } finally {
    await Promise.allSettled(sides.map((s) => (s.svc ? s.svc.kill("SIGKILL") : Promise.resolve(null))));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The table rows (measure, large, small, ratio / note, target, verdict) of a result, and the
 * verdicts as bench/run.ts lists its targets.
 */
export function millionRows(r: any): { rows: string[][]; targets: { name: string; value: number; target: string; met: boolean }[] } {
  const targets: { name: string; value: number; target: string; met: boolean }[] = [];
  const verdict = (name: string, value: number, met: boolean, target: string) => {
    targets.push({ name, value: Number(value.toFixed(3)), target, met });
    return met ? "met" : "SHORT";
  };
  const n = (x: number) => x.toLocaleString("en-US");
  const L = n(r.settings.large);
  const S = n(r.settings.small);
  const rows: string[][] = [];
  const u = r.updateProgress;
  const ur = u.large.median / u.small.median;
  rows.push([`UpdateProgress calls/s at ${L} tasks vs ${S} (64 in flight)`, `${n(u.large.median)} [srv ${u.large.serverUsPerCall} µs/call]`, `${S}: ${n(u.small.median)} [srv ${u.small.serverUsPerCall} µs/call]`, `${ur.toFixed(2)}×`, "≥ 0.90×", verdict(`UpdateProgress at ${L} tasks ≥ 0.90× ${S}`, ur, ur >= 0.9, "0.90")]);
  for (const [key, what] of [["firstAnswerMs", "first answered call"], ["servingMs", "health SERVING"]] as const) {
    const ms = r.restart.large[key];
    const cpu = key === "servingMs" ? `; server CPU to serving ${n(r.restart.large.serverCpuMs)} vs ${n(r.restart.small.serverCpuMs)} ms` : "";
    rows.push([`restart to ${what} at ${L} tasks (${ENTRY === "dist" ? "compiled server, " : ""}process start →)`, `${n(ms)} ms`, `${S}: ${n(r.restart.small[key])} ms`, `${(ms / r.restart.small[key]).toFixed(2)}×${cpu}`, "≤ 3 s", verdict(`restart to ${what} at ${L} tasks ≤ 3 s`, ms, ms <= 3000, "3000 ms")]);
  }
  type L = { p50: number; p99: number; serverUsPerCall: number };
  for (const [name, l] of Object.entries(r.latency as Record<string, { small: L; large: L }>)) {
    const p50 = l.large.p50 / l.small.p50;
    const p99 = l.large.p99 / l.small.p99;
    rows.push([
      `${name} p50 / p99 ms at ${L} tasks`,
      `${l.large.p50.toFixed(3)} / ${l.large.p99.toFixed(3)} [srv ${l.large.serverUsPerCall} µs/call]`,
      `${S}: ${l.small.p50.toFixed(3)} / ${l.small.p99.toFixed(3)} [srv ${l.small.serverUsPerCall} µs/call]`,
      `p50 ${p50.toFixed(2)}×, p99 ${p99.toFixed(2)}×, srv µs ${(l.large.serverUsPerCall / l.small.serverUsPerCall).toFixed(2)}×`,
      "≤ 1.2×",
      `${verdict(`${name} p50 at ${L} ≤ 1.2× ${S}`, p50, p50 <= 1.2, "1.2")} / ${verdict(`${name} p99 at ${L} ≤ 1.2× ${S}`, p99, p99 <= 1.2, "1.2")}`,
    ]);
  }
  const b = r.bytes;
  rows.push([`database bytes per task (file + WAL) at ${L} tasks`, `${n(b.large.perTaskSeeded)} B seeded, ${n(b.large.perTaskAfter)} B after the run`, `${S}: ${n(b.small.perTaskSeeded)} B`, `${n(r.seeded.large.events)} events retained`, "stated", ""]);
  return { rows, targets };
}

// Run as a script (not when imported for millionRows).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
