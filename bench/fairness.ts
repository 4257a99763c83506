/**
 * Watch fairness and the hub's memory under one owner's flood, against the real server in a
 * child process:
 *
 *   node --import tsx bench/fairness.ts [--seconds 15] [--watchers 50] [--label after]
 *
 * One owner floods through four StreamProgress streams (a persisted update of ~500 bytes
 * every 4th message, live lines otherwise) while `--watchers` of its watchers read as fast
 * as their sockets allow; a quiet owner updates one task every 50 ms with one watcher of its
 * own. Measured: the quiet owner's delivery delay (from the UpdateProgress send, and from its
 * acknowledgement), bookmarks that ran ahead of one of its undelivered events, and the
 * server's RSS sampled every 100 ms. Prints a table and merges the run, under its label,
 * into bench/results/fairness.json (so a run on older code can sit beside it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { nowMs, percentile, ROOT, rssKiB, settledRss, sleep } from "./lib.js";
import { readingWatcher } from "../test/support/raw-grpc.js";
import { grpcClient } from "../test/support/grpc-client.js";
import { startServerProcess } from "../test/support/server-process.js";
import {
  type CreateTaskResponse,
  type StreamProgressResponse,
  type WatchTasksResponse,
} from "../gen/taskcontrol/v1/task_control_service_pb.js";

/** Server RSS growth the run must stay under (the stated bound of the README's promise). */
const RSS_BOUND_MIB = 256;
const CHECKPOINT = { phase: "flood", note: "x".repeat(500) };

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    watchers: { type: "string", default: "50" },
    label: { type: "string", default: "after" },
  },
});
const floodMs = Number(args.seconds) * 1000;
const floodWatchers = Number(args.watchers);

const dir = mkdtempSync(join(tmpdir(), "taskcontrol-fairness-"));
const server = await startServerProcess({ db: join(dir, "f.sqlite"), args: ["--bookmark-interval-ms", "100"] });
const worker = grpcClient(server.grpcAddress);
const quietClient = grpcClient(server.grpcAddress);
const sessions = Array.from({ length: 5 }, () => {
  const s = http2.connect(`http://${server.grpcAddress}`);
  s.on("error", () => undefined);
  return s;
});


try {
  const create1 = (owner: string) => worker.unary<CreateTaskResponse>("CreateTask", { owner, kind: "bench", label: "start" });
  const tasks = (await Promise.all(Array.from({ length: 50 }, () => create1("flooder")))).map((r) => r.task!.id);
  const quietTask = (await create1("carol")).task!.id;
  const watchers = Array.from({ length: floodWatchers }, (_, i) => readingWatcher(sessions[i % sessions.length]!, "flooder"));

  const sentAt = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const fromSend: number[] = [];
  const fromAck: number[] = [];
  let maxBookmark = -1n;
  let ahead = 0;
  let received = 0;
  const quiet = quietClient.serverStream<WatchTasksResponse>("WatchTasks", { owner: "carol" });
  const quietDone = (async () => {
    for await (const e of quiet.responses) {
      if (e.event.case === "bookmark") {
        if (e.sequence > maxBookmark) maxBookmark = e.sequence;
      } else if (e.event.case === "progress" && e.event.value.persisted) {
        const t = nowMs();
        const label = e.event.value.label;
        if (e.sequence <= maxBookmark) ahead++;
        received++;
        fromSend.push(t - sentAt.get(label)!);
        const acked = ackedAt.get(label);
        fromAck.push(acked === undefined ? 0 : Math.max(0, t - acked));
      }
    }
  })().catch(() => undefined);
  await sleep(500);

  const baseline = await settledRss(server.child.pid!);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(server.child.pid!))), 100);
  const t0 = nowMs();
  const end = t0 + floodMs;
  async function* messages(part: number) {
    for (let i = part; nowMs() < end; i += 4) {
      if (i % 2000 < 4) await sleep(1);
      const taskId = tasks[i % tasks.length]!;
      if (i % 4 === 0) yield { message: { case: "update" as const, value: { taskId, progress: (i % 1000) / 1000, label: `u${i}`, checkpoint: CHECKPOINT } } };
      else yield { message: { case: "emit" as const, value: { taskId, label: `line ${i}` } } };
    }
  }
  let sent = 0;
  const quietWrites = (async () => {
    const calls: Promise<unknown>[] = [];
    while (nowMs() < end) {
      await sleep(50);
      const label = `c${sent++}`;
      sentAt.set(label, nowMs());
      calls.push(worker.unary("UpdateProgress", { taskId: quietTask, progress: 0.5, label }).then(() => ackedAt.set(label, nowMs())));
    }
    await Promise.all(calls);
  })();
  const [, ...streams] = await Promise.all([
    quietWrites,
    ...[0, 1, 2, 3].map((p) => worker.clientStream<StreamProgressResponse>("StreamProgress", messages(p))),
  ]);
  const accepted = streams.reduce((a, r) => a + Number(r.received), 0);
  const elapsed = nowMs() - t0;
  const deadline = nowMs() + 60_000;
  while (received < sent && nowMs() < deadline) await sleep(50);
  clearInterval(sampler);
  const cutOff = watchers.filter((w) => w.status() !== undefined).length;
  const watcherMiB = watchers.reduce((a, w) => a + w.bytes(), 0) / 2 ** 20;
  for (const w of watchers) w.close();
  quiet.call.cancel();
  await quietDone;

  const growthMiB = (peak - baseline) / 1024;
  const row = {
    label: args.label,
    floodSeconds: floodMs / 1000,
    floodWatchers,
    floodMessages: accepted,
    floodMessagesPerSecond: Math.round(accepted / (elapsed / 1000)),
    floodWatcherMiB: Math.round(watcherMiB),
    floodWatchersCutOff: cutOff,
    quietSent: sent,
    quietReceived: received,
    quietDelayFromSendMs: { p50: percentile(fromSend, 50), p99: percentile(fromSend, 99), max: percentile(fromSend, 100) },
    quietDelayFromAckMs: { p50: percentile(fromAck, 50), p99: percentile(fromAck, 99), max: percentile(fromAck, 100) },
    bookmarksAheadOfUndelivered: ahead,
    serverRssMiB: { baseline: Math.round(baseline / 1024), peak: Math.round(peak / 1024), growth: Math.round(growthMiB) },
    rssBoundMiB: RSS_BOUND_MIB,
    withinBound: growthMiB < RSS_BOUND_MIB,
    time: new Date().toISOString(),
  };
  const f = (n: number) => (Number.isNaN(n) ? "-" : n.toFixed(0));
  console.log(`watch fairness (${row.label}): ${floodWatchers} watchers of a flooding owner + 1 of a quiet owner, ${row.floodSeconds} s`);
  console.log(`| measure | value |\n| --- | --- |`);
  console.log(`| flood accepted | ${accepted} messages (${row.floodMessagesPerSecond}/s), ${row.floodWatcherMiB} MiB read by the flood watchers, ${cutOff} cut off |`);
  console.log(`| quiet owner's events | ${received} of ${sent} delivered |`);
  console.log(`| quiet delay from send (p50 / p99 / max) | ${f(row.quietDelayFromSendMs.p50)} / ${f(row.quietDelayFromSendMs.p99)} / ${f(row.quietDelayFromSendMs.max)} ms |`);
  console.log(`| quiet delay from commit ack (p50 / p99 / max) | ${f(row.quietDelayFromAckMs.p50)} / ${f(row.quietDelayFromAckMs.p99)} / ${f(row.quietDelayFromAckMs.max)} ms |`);
  console.log(`| bookmarks ahead of an undelivered event | ${ahead} |`);
  console.log(`| server RSS baseline → peak | ${row.serverRssMiB.baseline} → ${row.serverRssMiB.peak} MiB (+${row.serverRssMiB.growth}; bound +${RSS_BOUND_MIB}: ${row.withinBound ? "within" : "EXCEEDED"}) |`);
  const out = join(ROOT, "bench/results/fairness.json");
  const all = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>) : {};
  all[row.label] = row;
  writeFileSync(out, `${JSON.stringify(all, null, 2)}\n`);
} finally {
  worker.close();
  quietClient.close();
  for (const s of sessions) s.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
