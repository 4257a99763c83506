/**
 * What bench/replicas.ts measures around a throughput row on PostgreSQL: CPU per call of the
 * replicas, of the database's backends and of the client (from /proc), and optionally a
 * sampling of pg_stat_activity + pg_locks that shows how long the commit lock is held and
 * what its holder is doing meanwhile.
 */
import { cpus } from "node:os";
import pg from "pg";
import type { TestDatabase } from "../test/support/pg.js";
import { cpuSeconds, machineBusySeconds, nowMs } from "./lib.js";

/** The key of the commit lock (src/store/postgresql-dialect.ts COMMIT_LOCK; bigint key: objid). */
const COMMIT_LOCK = 7215001;

/** CPU of a run, in µs per call of each side, and the whole machine's busy share. */
export interface CpuBreakdown {
  replicaUsPerCall: number;
  pgUsPerCall: number;
  clientUsPerCall: number;
  /** Busy CPU of the whole machine, % of one core (200 = both cores of a 2-core box). */
  machineBusyPct: number;
  /** What this run's processes used, % of one core. */
  ownBusyPct: number;
}

async function backendPids(database: TestDatabase): Promise<number[]> {
  const rows = await database.query<{ pid: number }>(
    "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name <> 'bench-lock-sampler'",
  );
  return rows.map((r) => r.pid);
}

function cpuOf(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0; // gone meanwhile
  }
}

/** Starts counting CPU; stop(calls) answers the breakdown since the start. */
export async function startCpuProbe(database: TestDatabase | undefined, replicaPids: readonly number[]) {
  const pgStart = new Map<number, number>();
  if (database) for (const pid of await backendPids(database)) pgStart.set(pid, cpuOf(pid));
  const replicaStart = replicaPids.map(cpuOf);
  const client = process.cpuUsage();
  const machine = machineBusySeconds();
  const t0 = nowMs();
  return {
    async stop(calls: number): Promise<CpuBreakdown> {
      const elapsed = (nowMs() - t0) / 1000;
      const machineBusy = machineBusySeconds() - machine;
      const replicas = replicaPids.reduce((s, pid, i) => s + cpuOf(pid) - replicaStart[i]!, 0);
      let pgCpu = 0;
      if (database) {
        // Backends that connected during the run count from 0.
        for (const pid of new Set([...pgStart.keys(), ...(await backendPids(database))])) pgCpu += cpuOf(pid) - (pgStart.get(pid) ?? 0);
      }
      const c = process.cpuUsage(client);
      const clientCpu = (c.user + c.system) / 1e6;
      const per = (s: number) => Number(((s * 1e6) / Math.max(1, calls)).toFixed(0));
      return {
        replicaUsPerCall: per(replicas),
        pgUsPerCall: per(pgCpu),
        clientUsPerCall: per(clientCpu),
        machineBusyPct: Number(((100 * machineBusy) / elapsed).toFixed(0)),
        ownBusyPct: Number(((100 * (replicas + pgCpu + clientCpu)) / elapsed).toFixed(0)),
      };
    },
  };
}

/** What the commit-lock sampler saw. */
export interface LockSampling {
  samples: number;
  /** Share of samples in which some backend held the commit lock. */
  heldPct: number;
  /** Mean backends waiting for it per sample. */
  meanWaiters: number;
  /** What the holder was doing, % of held samples ("ClientRead"/idle in transaction = waiting for the replica's next statement). */
  holderDoing: Record<string, number>;
  /** What the other active backends were waiting on, % of backend-samples. */
  othersDoing: Record<string, number>;
}

const SAMPLE = `
select a.pid, a.state, a.wait_event_type, a.wait_event,
  exists (select 1 from pg_locks l where l.pid = a.pid and l.locktype = 'advisory' and l.objid = ${COMMIT_LOCK} and l.granted) as holds
from pg_stat_activity a
where a.datname = current_database() and a.pid <> pg_backend_pid() and a.backend_type = 'client backend'`;

function doing(r: { state: string | null; wait_event_type: string | null; wait_event: string | null }): string {
  if (r.state !== "active") return r.state ?? "?";
  return r.wait_event ? `${r.wait_event_type}:${r.wait_event}` : "running";
}

const pct = (counts: Map<string, number>, total: number) =>
  Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Number(((100 * v) / Math.max(1, total)).toFixed(1))]));

/** Samples every `everyMs` on its own connection until stop(). */
export async function startLockSampler(database: TestDatabase, everyMs = 5) {
  const client = new pg.Client({ connectionString: database.url, application_name: "bench-lock-sampler" });
  await client.connect();
  let stopped = false;
  let samples = 0;
  let held = 0;
  let waiters = 0;
  let others = 0;
  const holder = new Map<string, number>();
  const other = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await client.query(SAMPLE);
      samples++;
      const h = rows.find((r) => r.holds);
      if (h) {
        held++;
        bump(holder, doing(h));
      }
      for (const r of rows) {
        if (r === h || r.state !== "active") continue;
        if (r.wait_event === "advisory") waiters++;
        others++;
        bump(other, doing(r));
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(): Promise<LockSampling> {
      stopped = true;
      await loop;
      await client.end();
      return {
        samples,
        heldPct: Number(((100 * held) / Math.max(1, samples)).toFixed(1)),
        meanWaiters: Number((waiters / Math.max(1, samples)).toFixed(2)),
        holderDoing: pct(holder, held),
        othersDoing: pct(other, others),
      };
    },
  };
}

/** Cores of this machine (for the CPU-bound verdict). */
export const CORES = cpus().length;

/**
 * Transactions so far: all committed ones of the database (writes and the feeds' read-only
 * reads) and write ones (only those take a transaction id: the next id to be assigned, which
 * is server-wide, so nothing else should write meanwhile).
 */
export async function pgCounters(database: TestDatabase): Promise<{ all: number; writes: number; rollbacks: number }> {
  const [row] = await database.query<{ all: string; writes: string; rollbacks: string }>(
    "select xact_commit as all, pg_snapshot_xmax(pg_current_snapshot())::text as writes, xact_rollback as rollbacks from pg_stat_database where datname = current_database()",
  );
  return { all: Number(row!.all), writes: Number(row!.writes), rollbacks: Number(row!.rollbacks) };
}
