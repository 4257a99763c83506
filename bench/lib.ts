/**
 * Helpers shared by the benchmark's processes: clocks, percentiles, /proc readers, and a
 * small IPC wrapper around child processes that run bench/*.ts under tsx.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod } from "@bufbuild/protobuf";
import type { GrpcTestClient } from "../test/support/grpc-client.js";
import { TaskControlService } from "../gen/taskcontrol/v1/task_control_service_pb.js";
import type { TaskRow } from "../src/store/schema.js";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every process derives it from its
 * own timeOrigin, so values are comparable across processes of the same machine.
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Nearest-rank percentile of an unsorted sample (sorts a copy). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Resident set size of a process in KiB (VmRSS of /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)\s+kB/);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** CPU seconds (user+system) a process used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state(0) ... utime(11) stime(12), in clock ticks (100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}

/** Median of several RSS samples taken `gapMs` apart (smooths allocator noise). */
export async function settledRss(pid: number, samples = 5, gapMs = 200): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(gapMs);
    out.push(rssKiB(pid));
  }
  return percentile(out, 50);
}

/**
 * RSS once V8 gave back the garbage of what just happened: a burst (10,000 held calls opened
 * in two seconds) leaves its short-lived objects promoted and dead in the old space, and V8's
 * memory reducer collects them, with no allocation to prompt it, some 20-40 s after the heap
 * goes quiet (a probe: 14.2 KiB per held confirmation at once, the same for 20 s, 5.6 KiB from
 * 24 s on, against a base taken at once; so the base is released first too). Samples
 * settledRss every `gapMs`; answers the first sample at least 3% below the first one that the
 * next sample confirms (within 1%), else the last sample after `maxMs`, and the time it took.
 */
export async function releasedRss(pid: number, maxMs = 45_000, gapMs = 2000): Promise<{ kib: number; waitedMs: number }> {
  const t0 = nowMs();
  const first = await settledRss(pid);
  let candidate: number | null = null;
  let last = first;
  while (nowMs() - t0 < maxMs) {
    await sleep(gapMs);
    last = await settledRss(pid);
    if (candidate !== null && Math.abs(last - candidate) <= candidate * 0.01) return { kib: last, waitedMs: Math.round(nowMs() - t0) };
    candidate = last <= first * 0.97 ? last : null;
  }
  return { kib: last, waitedMs: Math.round(nowMs() - t0) };
}

// ---- unary load on the raw grpc-js client (bench/run.ts's rows and bench/million.ts) ---------

/** Calls kept in flight by the 64-in-flight rows. */
export const INFLIGHT = 64;

/** A pass-through (de)serializer: requests go on the wire as encoded up front. */
export const identity = (b: Buffer) => b;
/** A request message encoded once, as a Buffer for the raw client. */
export function encode<S extends DescMessage>(schema: S, init: object): Buffer {
  const b = toBinary(schema, create(schema, init as never));
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
/** A method of TaskControlService by its wire name. */
export const method = (name: string): DescMethod => TaskControlService.methods.find((m) => m.name === name)!;
/** The HTTP/2 path of a method. */
export const path = (m: DescMethod) => `/${TaskControlService.typeName}/${m.name}`;

/**
 * A unary sender on the raw grpc-js client of test/support: requests are encoded once up front
 * (the same buffers go to both targets, so the client's cost is equal and small), responses
 * are decoded with fromBinary as any client would.
 */
export function unarySender(client: GrpcTestClient, name: string, requests: Buffer[]) {
  const m = method(name);
  const p = path(m);
  const de = (b: Buffer) => fromBinary(m.output, b);
  const raw = client.raw;
  return (i: number) =>
    new Promise<unknown>((resolve, reject) =>
      raw.makeUnaryRequest(p, identity, de, requests[i % requests.length]!, (err, res) => (err ? reject(err) : resolve(res))),
    );
}

/** `inflight` loops call `send` until `ms` pass; answers completed calls per second. */
export async function drive(send: (i: number) => Promise<unknown>, ms: number, inflight = INFLIGHT, check?: (r: unknown) => boolean) {
  let next = 0;
  let done = 0;
  let errors = 0;
  let bad = 0;
  let firstError = "";
  const t0 = nowMs();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (nowMs() < end) {
        try {
          const r = await send(next++);
          done++;
          if (check && !check(r)) bad++;
        } catch (err) {
          errors++;
          firstError ||= String((err as Error).message ?? err);
        }
      }
    }),
  );
  const elapsed = (nowMs() - t0) / 1000;
  return { rate: done / elapsed, done, errors, bad, firstError, elapsed };
}


// ---- child processes talking JSON over IPC -----------------------------------------------

/** A bench child (bench/agent.ts) that answers one request at a time over IPC. */
export interface Agent {
  readonly child: ChildProcess;
  readonly pid: number;
  call<T = unknown>(command: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

let agentBundle: Promise<string> | null = null;

/**
 * bench/agent.ts bundled by esbuild into dist/bench/agent.mjs (its packages stay imports from
 * node_modules), once per bench process: the watchers then run plain JavaScript, as the
 * service does. Under tsx every named closure of the client path gets a wrapper call, and the
 * 10,000 watchers of the fan-out share this machine's two cores with the service.
 */
function bundledAgent(): Promise<string> {
  agentBundle ??= (async () => {
    const esbuild = await import("esbuild");
    const outfile = join(ROOT, "dist", "bench", "agent.mjs");
    await esbuild.build({
      entryPoints: [fileURLToPath(new URL("./agent.ts", import.meta.url))],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "warning",
    });
    return outfile;
  })();
  return agentBundle;
}

/** Forks the bundled bench/agent.ts (bundledAgent) with an IPC channel. */
export async function startAgent(name: string): Promise<Agent> {
  const child = fork(await bundledAgent(), [name], {
    cwd: ROOT,
    execArgv: ["--max-old-space-size=4096"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.on("message", (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.ok) w.resolve(m.value);
    else w.reject(new Error(`agent ${name}: ${m.error}`));
  });
  exited.then(() => {
    for (const w of waiting.values()) w.reject(new Error(`agent ${name} exited`));
    waiting.clear();
  });
  const agent: Agent = {
    child,
    pid: child.pid!,
    call<T>(command: Record<string, unknown>, timeoutMs = 120_000) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`agent ${name}: ${String(command.op)} timed out`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, ...command });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  await agent.call({ op: "ping" }, 30_000);
  return agent;
}

/** A bench server child (bench/servers.ts) that prints `bench serving grpc=HOST:PORT`. */
export interface BenchServer {
  readonly address: string;
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node --import tsx bench/servers.ts <mode>`. */
export async function startBenchServer(mode: string, env: Record<string, string> = {}): Promise<BenchServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/servers.ts", mode], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bench server ${mode} did not start:\n${out}`));
    }, 30_000);
    const check = () => {
      const m = out.match(/bench serving grpc=(\S+)/);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bench server ${mode} exited:\n${out}`));
    });
  });
  return {
    address,
    pid: child.pid!,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A `tasks` row as the benches seed them: a fresh running task of owner "bench", fields overridable. */
export function benchTaskRow(patch: Partial<TaskRow> & Pick<TaskRow, "id" | "create_time" | "update_time">): TaskRow {
  return {
    owner: "bench",
    kind: "bench",
    label: "",
    status: "running",
    progress: 0,
    checkpoint: null,
    result: null,
    error_message: "",
    error_details: null,
    cancel_requested: false,
    cancel_reason: "",
    request_id: null,
    pending_confirmation_id: null,
    end_time: null,
    revision: 1,
    attempt: 1,
    lease_duration: null,
    lease_expire_time: null,
    stall_time: null,
    claim_request_id: null,
    ...patch,
  };
}
