/**
 * The writer's side of bench/million.ts without the server: node --import tsx bench/million-probe.ts [options]
 *
 *   --dir DIR      where the seeded databases are kept between runs (default: a temp dir, removed)
 *   --tasks N      the large database (default 1,000,000)
 *   --small N      the small one (default 5,000)
 *   --batch N      tasks per transaction (default 64, as 64 calls in flight batch)
 *   --txns N       transactions timed per database and setting (default 2,000)
 *   --pragmas P    settings to compare, ";"-separated lists of pragmas, "|" between settings
 *                  (default: "" | "cache_size = -65536")
 *
 * On a copy of each seeded database (bench/million-seed.ts), a better-sqlite3 connection with
 * the writer thread's pragmas runs what a batch of UpdateProgress calls commits: one
 * UPDATE … FROM (VALUES …) of progress, update_time and revision guarded by the revision,
 * and the batch's event rows, in BEGIN IMMEDIATE … COMMIT, over the same running tasks
 * bench/million.ts writes (400 spread through the table). It prints CPU µs per transaction
 * (user + system, which a loaded machine does not stretch the way it does wall time), read
 * and write syscalls per transaction (/proc/self/io: a page the SQLite cache misses is a
 * read of the database file or the WAL), and the process RSS; small and large alternate.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { seedMillion, statusAt } from "./million-seed.js";

const { values: opts } = parseArgs({
  options: {
    dir: { type: "string" },
    tasks: { type: "string", default: "1000000" },
    small: { type: "string", default: "5000" },
    batch: { type: "string", default: "64" },
    txns: { type: "string", default: "2000" },
    pragmas: { type: "string", default: "|cache_size = -65536" },
    keep: { type: "boolean", default: false },
  },
});
const BATCH = Number(opts.batch);
const TXNS = Number(opts.txns);
const SETTINGS = opts.pragmas!.split("|").map((s) => s.split(";").map((p) => p.trim()).filter(Boolean));
const WRITTEN = 400;

function io(): { syscr: number; syscw: number } {
  const text = readFileSync("/proc/self/io", "utf8");
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, "m").exec(text)![1]);
  return { syscr: get("syscr"), syscw: get("syscw") };
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

/** The ids of WRITTEN running tasks spread through the table, as bench/million.ts picks them. */
function writtenIds(db: Database.Database, n: number): string[] {
  // Position i is create-time order (the seed's ids are in create_time order).
  const ids = (db.prepare("select id from tasks order by create_time, id").pluck().all() as string[]);
  const running: number[] = [];
  for (let i = 0; i < n; i++) if (statusAt(i) === "running") running.push(i);
  const step = running.length / Math.min(WRITTEN, running.length);
  return Array.from({ length: Math.min(WRITTEN, running.length) }, (_, k) => ids[running[Math.floor(k * step)]!]!);
}

function measure(path: string, pragmas: string[], n: number): { cpuUs: number; wallUs: number; reads: number; writes: number; rssMiB: number; pages: number; walFrames: number } {
  const work = `${path}.work`;
  for (const s of ["", "-wal", "-shm"]) rmSync(work + s, { force: true });
  copyFileSync(path, work);
  const db = new Database(work, { fileMustExist: true });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  for (const p of pragmas) db.pragma(p);
  const ids = writtenIds(db, n);
  const revision = new Map<string, number>(ids.map((id) => [id, (db.prepare("select revision from tasks where id = ?").pluck().get(id) as number)]));
  const owner = new Map<string, string>(ids.map((id) => [id, db.prepare("select owner from tasks where id = ?").pluck().get(id) as string]));
  let sequence = Number(db.prepare("select coalesce(max(sequence), 0) from events").pluck().get());
  const row = "(?, ?, ?, ?, ?)";
  const update = db.prepare(
    `with v(id, base_revision, progress, update_time, revision) as (values ${new Array(BATCH).fill(row).join(", ")}) ` +
      "update tasks set progress = v.progress, update_time = v.update_time, revision = v.revision from v " +
      "where tasks.id = v.id and tasks.revision = v.base_revision returning tasks.id",
  );
  const insert = db.prepare(`insert into events (sequence, time, task_id, owner, type, payload) values ${new Array(BATCH).fill("(?, ?, ?, ?, ?, ?)").join(", ")}`);
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  let k = 0;
  const one = () => {
    const now = Date.now();
    const up: unknown[] = [];
    const ev: unknown[] = [];
    for (let b = 0; b < BATCH; b++) {
      const id = ids[k++ % ids.length]!;
      const r = revision.get(id)!;
      const progress = ((k % 97) + 1) / 100;
      up.push(id, r, progress, now, r + 1);
      revision.set(id, r + 1);
      const event = { type: "progress", taskId: id, owner: owner.get(id), progress, label: "", checkpoint: null, persisted: true };
      ev.push(++sequence, now, id, owner.get(id), "progress", JSON.stringify(event));
    }
    begin.run();
    const changed = update.all(up).length;
    insert.run(ev);
    commit.run();
    if (changed !== BATCH) throw new Error(`updated ${changed} of ${BATCH}`);
  };
  // Warm up: the cache as a server that has been writing for a while has it.
  for (let i = 0; i < 200; i++) one();
  const io0 = io();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < TXNS; i++) one();
  const wallUs = ((performance.now() - t0) * 1000) / TXNS;
  const c = process.cpuUsage(c0);
  const io1 = io();
  const pages = Number(db.pragma("page_count", { simple: true }));
  const walFrames = Math.max(0, statSync(`${work}-wal`).size - 32) / (4096 + 24);
  const rss = rssMiB();
  // The WAL as it stands (closing checkpoints it away), to see which pages it holds.
  if (opts.keep) copyFileSync(`${work}-wal`, `${path}.wal-kept`);
  db.close();
  for (const s of ["", "-wal", "-shm"]) rmSync(work + s, { force: true });
  return { cpuUs: (c.user + c.system) / TXNS, wallUs, reads: (io1.syscr - io0.syscr) / TXNS, writes: (io1.syscw - io0.syscw) / TXNS, rssMiB: rss, pages, walFrames };
}

const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "taskcontrol-million-probe-"));
mkdirSync(dir, { recursive: true });
try {
  const dbs: [string, number][] = [];
  for (const [label, n] of [["small", Number(opts.small)], ["large", Number(opts.tasks)]] as const) {
    const path = join(dir, `${label}-${n}.sqlite`);
    if (!existsSync(path)) {
      const s = await seedMillion(path, n);
      console.error(`${label}: seeded ${n} tasks in ${s.seconds.toFixed(1)} s`);
      const db = new Database(path);
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
    }
    dbs.push([path, n]);
  }
  for (const pragmas of SETTINGS) {
    const results = dbs.map(([path, n]) => ({ n, ...measure(path, pragmas, n) }));
    const [s, l] = results as [(typeof results)[0], (typeof results)[0]];
    const f = (x: number) => x.toFixed(1);
    console.log(`[${pragmas.join("; ") || "defaults"}] batch ${BATCH}, ${TXNS} txns`);
    for (const r of results) console.log(`  ${r.n} tasks (${r.pages} pages): cpu ${f(r.cpuUs)} µs/txn, wall ${f(r.wallUs)} µs/txn, ${f(r.reads)} reads + ${f(r.writes)} writes /txn, rss ${f(r.rssMiB)} MiB, WAL ${f(r.walFrames)} frames at the end`);
    console.log(`  large/small cpu ${(l.cpuUs / s.cpuUs).toFixed(2)}×, wall ${(l.wallUs / s.wallUs).toFixed(2)}×`);
  }
} finally {
  if (!opts.dir) rmSync(dir, { recursive: true, force: true });
}
