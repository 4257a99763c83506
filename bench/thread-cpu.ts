/**
 * Where one call's server CPU goes, by thread, and what it waits for:
 *
 *   node --import tsx bench/thread-cpu.ts [--inflight N] [--methods A,B] [--rounds R] [--pin]
 *
 * Starts the compiled server (built first if stale, as bench/run.ts does) with 100 tasks,
 * drives each method for R rounds of 3 s with N calls in flight (default 1: a worker that
 * awaits each call), and prints p50/p99 and the CPU per call of each of the server's threads
 * (utime+stime of /proc/<pid>/task/<tid>/stat; the writer thread is the one besides the main
 * thread that grows with UpdateProgress, the others are V8's and libuv's helpers).
 *
 * --pin (after the first round) pins the main thread to CPU 0 and the busiest other thread
 * (the SQLite writer under UpdateProgress) to CPU 1 with taskset: it shows how much of a
 * batch's trip to the writer thread is the wake-up of a thread on a busy core.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { grpcClient } from "../test/support/grpc-client.js";
import { startServerProcess } from "../test/support/server-process.js";
import {
  type CreateTaskResponse,
  EmitProgressRequestSchema,
  UpdateProgressRequestSchema,
} from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { encode, nowMs, percentile, ROOT, unarySender } from "./lib.js";

const { values: opts } = parseArgs({
  options: {
    inflight: { type: "string", default: "1" },
    methods: { type: "string", default: "UpdateProgress,EmitProgress" },
    rounds: { type: "string", default: "3" },
    pin: { type: "boolean", default: false },
  },
});
const INFLIGHT = Number(opts.inflight);
const ROUNDS = Number(opts.rounds);
const SCHEMAS = { UpdateProgress: UpdateProgressRequestSchema, EmitProgress: EmitProgressRequestSchema } as const;

/** CPU milliseconds so far of each thread of `pid`, by thread id. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended
    }
  }
  return out;
}

execFileSync(process.execPath, [join(ROOT, "scripts/build-if-stale.mjs")], { stdio: "inherit" });
const dir = mkdtempSync(join(tmpdir(), "taskcontrol-thread-cpu-"));
const svc = await startServerProcess({ db: join(dir, "t.sqlite"), args: ["--log-level", "warn"], entry: "dist" });
const pid = svc.child.pid!;
const client = grpcClient(svc.grpcAddress);
try {
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    ids.push((await client.unary<CreateTaskResponse>("CreateTask", { owner: "thread-cpu", kind: "bench", label: `t${i}` })).task!.id);
  }
  let pinned = false;
  for (const name of opts.methods!.split(",")) {
    const schema = SCHEMAS[name as keyof typeof SCHEMAS];
    if (!schema) throw new Error(`--methods: UpdateProgress or EmitProgress, not ${name}`);
    const requests = Array.from({ length: 4000 }, (_, i) => encode(schema, { taskId: ids[i % ids.length]!, progress: ((i % 89) + 1) / 100 }));
    const send = unarySender(client, name, requests);
    for (let r = 0; r < ROUNDS; r++) {
      const before = threadCpuMs(pid);
      const latencies: number[] = [];
      const end = nowMs() + 3000;
      let next = 0;
      await Promise.all(
        Array.from({ length: INFLIGHT }, async () => {
          while (nowMs() < end) {
            const t = nowMs();
            await send(next++);
            latencies.push(nowMs() - t);
          }
        }),
      );
      const after = threadCpuMs(pid);
      const perCall = [...after]
        .map(([tid, ms]) => ({ tid, us: ((ms - (before.get(tid) ?? 0)) * 1000) / latencies.length }))
        .filter((t) => t.us > 0)
        .sort((a, b) => b.us - a.us);
      const label = (tid: string) => (tid === String(pid) ? "main" : tid);
      console.log(
        `${name} ${INFLIGHT} in flight, round ${r + 1}${pinned ? " (pinned)" : ""}: ${(latencies.length / 3).toFixed(0)}/s, ` +
          `p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms; ` +
          `server µs/call by thread: ${perCall.map((t) => `${label(t.tid)} ${t.us.toFixed(1)}`).join(", ")}`,
      );
      if (opts.pin && !pinned) {
        const busiest = perCall.find((t) => t.tid !== String(pid));
        if (busiest) {
          execFileSync("taskset", ["-p", "-c", "0", String(pid)], { stdio: "ignore" });
          execFileSync("taskset", ["-p", "-c", "1", busiest.tid], { stdio: "ignore" });
          pinned = true;
          console.log(`pinned: main thread to CPU 0, thread ${busiest.tid} to CPU 1`);
        }
      }
    }
  }
} finally {
  client.close();
  await svc.stop();
  rmSync(dir, { recursive: true, force: true });
}
