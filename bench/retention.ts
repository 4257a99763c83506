/**
 * Task retention under load:  node --import tsx bench/retention.ts [--tasks 100000] [--after-s 5]
 * (`npm run bench:retention`).
 *
 * Seeds a SQLite database with --tasks finished tasks that ended 40 days ago (one in ten with
 * an answered confirmation) and 1,000 running ones, starts the real server on it with the
 * default --task-retention-age-ms (30 days) and --retention-interval-ms 2000, and keeps 16
 * UpdateProgress calls in flight over the running tasks from the start until 5 s after the
 * server logs "finished tasks purged". The server's log line gives the purge's end and length;
 * the latencies of calls started inside that window are compared with those after it.
 * Writes bench/results/retention.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomUUID } from "node:crypto";
import { grpcClient } from "../test/support/grpc-client.js";
import { startServerProcess } from "../test/support/server-process.js";
import { openDatabase } from "../src/store/orm.js";
import { benchTaskRow, ROOT, nowMs, percentile } from "./lib.js";

const { values } = parseArgs({ options: { tasks: { type: "string", default: "100000" }, "after-s": { type: "string", default: "5" } } });
const TASKS = Number(values.tasks);
const AFTER_MS = Number(values["after-s"]) * 1000;
const RUNNING = 1000;
const INFLIGHT = 16;
const DAY = 24 * 3600 * 1000;

async function seed(db: string): Promise<string[]> {
  const open = await openDatabase({ db, durability: "normal" });
  const ended = Date.now() - 40 * DAY;
  const row = (id: string, status: string, end: number | null) =>
    benchTaskRow({ id, label: id, status, progress: status === "running" ? 0 : 1, create_time: ended - 1000, update_time: end ?? ended, end_time: end, revision: 2 });
  const running = Array.from({ length: RUNNING }, () => `t-${randomUUID()}`);
  await open.knex.transaction(async (trx) => {
    const finished = Array.from({ length: TASKS }, (_, i) => row(`t-${randomUUID()}`, i % 3 === 0 ? "failed" : "succeeded", ended + i));
    for (let i = 0; i < finished.length; i += 50) await trx("tasks").insert(finished.slice(i, i + 50));
    const confirmations = finished
      .filter((_, i) => i % 10 === 0)
      .map((t) => ({
        id: `c-${randomUUID()}`,
        task_id: t.id,
        owner: "bench",
        surface_id: "s",
        title: "?",
        components: "[]",
        state: "answered",
        action: "ok",
        answer_values: "{}",
        request_id: null,
        create_time: ended,
        expire_time: null,
        resolve_time: ended,
      }));
    for (let i = 0; i < confirmations.length; i += 50) await trx("confirmations").insert(confirmations.slice(i, i + 50));
    const live = running.map((id) => row(id, "running", null));
    for (let i = 0; i < live.length; i += 50) await trx("tasks").insert(live.slice(i, i + 50));
  });
  await open.close();
  return running;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-retention-bench-"));
  try {
    const db = join(dir, "r.sqlite");
    const t0 = nowMs();
    const running = await seed(db);
    console.log(`seeded ${TASKS} finished + ${RUNNING} running tasks in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
    const svc = await startServerProcess({ db, args: ["--log-level", "info", "--retention-interval-ms", "2000"] });
    const client = grpcClient(svc.grpcAddress);
    const calls: { at: number; ms: number }[] = [];
    let errors = 0;
    let purged: { time: number; ms: number; deleted: number } | undefined;
    let stopAt = Number.POSITIVE_INFINITY;
    let next = 0;
    const deadline = Date.now() + 600_000;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async () => {
        while (Date.now() < stopAt && Date.now() < deadline) {
          const at = Date.now();
          const start = nowMs();
          try {
            await client.unary("UpdateProgress", { taskId: running[next++ % RUNNING]!, progress: (next % 100) / 100 });
            calls.push({ at, ms: nowMs() - start });
          } catch {
            errors += 1;
          }
          if (purged === undefined) {
            const line = svc
              .output()
              .split("\n")
              .find((l) => l.includes('"finished tasks purged"'));
            if (line) {
              const j = JSON.parse(line) as { time: number; ms: number; deleted: number };
              purged = { time: j.time, ms: j.ms, deleted: j.deleted };
              stopAt = Date.now() + AFTER_MS;
            }
          }
        }
      }),
    );
    client.close();
    await svc.stop();
    if (purged === undefined) throw new Error(`no purge logged; server output:\n${svc.output().slice(-3000)}`);
    const from = purged.time - purged.ms;
    const during = calls.filter((c) => c.at >= from && c.at <= purged!.time).map((c) => c.ms);
    const after = calls.filter((c) => c.at > purged!.time + 500).map((c) => c.ms);
    const stats = (xs: number[]) => ({ calls: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) });
    const result = {
      tasks: TASKS,
      purge: { deleted: purged.deleted, ms: purged.ms },
      during: stats(during),
      after: stats(after),
      errors,
      inflight: INFLIGHT,
      when: new Date().toISOString(),
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `UpdateProgress p99 during a purge of ${purged.deleted.toLocaleString("en-US")} tasks (${(purged.ms / 1000).toFixed(1)} s): ` +
        `${result.during.p99.toFixed(2)} ms (p50 ${result.during.p50.toFixed(2)}), after it ${result.after.p99.toFixed(2)} ms (p50 ${result.after.p50.toFixed(2)})`,
    );
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    writeFileSync(join(ROOT, "bench/results/retention.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

