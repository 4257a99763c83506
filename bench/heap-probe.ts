/**
 * Where the service's per-stream memory goes:  node --import tsx bench/heap-probe.ts [N]
 *
 * Starts a fresh service (NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2), creates N tasks, and
 * takes a heap snapshot before and after N idle WatchTasks streams and after N held
 * RequestConfirmation calls (streams held by a bench/agent.ts process); prints the growth per
 * stream by object type (bench/heap-diff.ts). Snapshots GC first, so these are live bytes
 * of the V8 heap, not RSS. N defaults to 2,000 (snapshots of 10,000 take long to parse). The
 * service is the compiled one (`npm start`'s, built first if stale), or the sources with BENCH_ENTRY=tsx.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grpcClient } from "../test/support/grpc-client.js";
import { startServerProcess } from "../test/support/server-process.js";
import type { CreateTaskResponse } from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { diffSnapshots } from "./heap-diff.js";
import { ROOT, sleep, startAgent } from "./lib.js";

const N = Number(process.argv[2] ?? 2000);
if (process.env.BENCH_ENTRY !== "tsx") execFileSync(process.execPath, [join(ROOT, "scripts/build-if-stale.mjs")], { stdio: "inherit" });
const dir = mkdtempSync(join(tmpdir(), "taskcontrol-heap-"));
const svc = await startServerProcess({
  db: join(dir, "heap.sqlite"),
  // The compiled server, as `npm start` runs it (BENCH_ENTRY=tsx: the sources, whose transform wraps every closure).
  entry: process.env.BENCH_ENTRY === "tsx" ? "tsx" : "dist",
  args: ["--log-level", "warn"],
  env: {
    TASKCONTROL_MAX_STREAMS_PER_PRINCIPAL: "1000000",
    NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`,
  },
});
const client = grpcClient(svc.grpcAddress);
const agent = await startAgent("heap");
let base = "", watches = "", confirms = "";
try {
  const ids: string[] = [];
  for (let i = 0; i < N; i += 64) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(64, N - i) }, (_, j) =>
        client.unary<CreateTaskResponse>("CreateTask", { owner: "heap", kind: "bench", label: `t${i + j}` }),
      ),
    );
    ids.push(...batch.map((r) => r.task!.id));
  }
  const snapshots = () => readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot")).sort();
  async function snap(): Promise<string> {
    const before = snapshots().length;
    await sleep(1000);
    svc.child.kill("SIGUSR2");
    for (;;) {
      await sleep(500);
      const files = snapshots();
      if (files.length > before) {
        // The file appears before it is complete: wait until its size holds still.
        const file = join(dir, files[files.length - 1]!);
        let size = -1;
        for (;;) {
          await sleep(1000);
          const now = statSync(file).size;
          if (now === size && now > 0) return file;
          size = now;
        }
      }
    }
  }

  base = await snap();
  await agent.call({ op: "watch", address: svc.grpcAddress, owner: "heap-idle", count: N, connections: Math.ceil(N / 1000), tag: "heap" });
  watches = await snap();
  await agent.call({ op: "confirm", address: svc.grpcAddress, taskIds: ids, connections: Math.ceil(N / 1000), tag: "heap" }, 180_000);
  confirms = await snap();
  console.log(`--- per idle WatchTasks stream (N=${N})\n${diffSnapshots(base, watches, N, 30)}`);
  console.log(`\n--- per held RequestConfirmation (N=${N})\n${diffSnapshots(watches, confirms, N, 30)}`);
} finally {
  await agent.call({ op: "closeAll" }).catch(() => undefined);
  await agent.stop();
  client.close();
  await svc.stop();
  if (process.env.HEAP_KEEP) console.log(`snapshots kept in ${dir}: ${[base, watches, confirms].join(" ")}`);
  else rmSync(dir, { recursive: true, force: true });
}
