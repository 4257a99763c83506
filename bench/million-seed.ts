/**
 * The seeded databases of bench/million.ts: `tasks` tasks of which one in ten is unfinished
 * (running, half of them leased; waiting on a pending confirmation; stalled), the rest
 * finished within the task retention (30 days), scattered over OWNERS owners (owner-0 has a fifth), and the event log
 * as the default retention keeps it (EVENTS_PER_TASK per task, at most 1,000,000, all within
 * its 7 days). One transaction, multi-row inserts of benchTaskRow rows.
 */
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import type { Knex } from "@mikro-orm/knex";
import { openDatabase } from "../src/store/orm.js";
import type { ConfirmationRow, EventRow } from "../src/store/schema.js";
import { benchTaskRow } from "./lib.js";

/** Owners the tasks are spread over (round robin). */
export const OWNERS = 100;
/** Persisted events per task, up to the default retention count. */
const EVENTS_PER_TASK = 4;
/** --event-retention-count's default. */
const RETAINED_EVENTS = 1_000_000;
/** Rows per INSERT (23 columns: ~9,200 parameters, under SQLite's 32,766). */
const PER_INSERT = 400;
const DAY = 24 * 3600 * 1000;
/** Lease of the leased running tasks: long enough that none lapses during a run. */
const LEASE_MS = 3600 * 1000;

/** What a task at position i (oldest first) is. */
export function statusAt(i: number): "running" | "waiting_confirmation" | "stalled" | "succeeded" | "failed" | "cancelled" {
  if (i % 10 === 0) {
    const u = (i / 10) % 10;
    return u < 8 ? "running" : u === 8 ? "waiting_confirmation" : "stalled";
  }
  return i % 7 === 0 ? "failed" : i % 13 === 0 ? "cancelled" : "succeeded";
}

/**
 * The owner of the task at position i: scattered (a multiplicative hash), so every owner has
 * tasks of every status; owner-0 has a fifth of all tasks (one big tenant), the others about
 * 0.8 % each.
 */
export function ownerAt(i: number): string {
  const h = (Math.imul(i, 2654435761) >>> 16) % 1000;
  return h < 200 ? "owner-0" : `owner-${1 + (h % (OWNERS - 1))}`;
}

/** One seeded database: ids by position (create time grows with it) and sizes. */
export interface Seeded {
  readonly tasks: number;
  readonly events: number;
  readonly ids: string[];
  readonly createTimes: number[];
  readonly seconds: number;
}

/** Seeds `db` (a new file) with `tasks` tasks; create times from 20 days ago to a minute ago. */
export async function seedMillion(db: string, tasks: number): Promise<Seeded> {
  const t0 = performance.now();
  const open = await openDatabase({ db, durability: "normal" });
  const now = Date.now();
  const first = now - 20 * DAY;
  const step = Math.max(1, Math.floor((20 * DAY - 60_000) / tasks));
  const ids = Array.from({ length: tasks }, () => `t-${randomUUID()}`);
  const createTimes = Array.from({ length: tasks }, (_, i) => first + i * step);
  const events = Math.min(RETAINED_EVENTS, EVENTS_PER_TASK * tasks);
  await open.knex.transaction(async (trx) => {
    let rows = [];
    let confirmations: ConfirmationRow[] = [];
    for (let i = 0; i < tasks; i++) {
      const id = ids[i]!;
      const created = createTimes[i]!;
      const status = statusAt(i);
      const finished = status === "succeeded" || status === "failed" || status === "cancelled";
      const leased = (status === "running" && i % 20 === 0) || status === "stalled";
      const confirmationId = status === "waiting_confirmation" ? `c-${randomUUID()}` : null;
      rows.push(
        benchTaskRow({
          id,
          owner: ownerAt(i),
          label: `task ${i}`,
          status,
          progress: finished ? 1 : 0.5,
          result: status === "succeeded" ? '{"ok":true}' : null,
          error_message: status === "failed" ? "boom" : "",
          create_time: created,
          update_time: created + 1000,
          end_time: finished ? created + 1000 : null,
          revision: 3,
          pending_confirmation_id: confirmationId,
          lease_duration: leased ? LEASE_MS : null,
          lease_expire_time: leased ? (status === "stalled" ? created + 1000 : now + LEASE_MS) : null,
          stall_time: status === "stalled" ? created + 1000 : null,
        }),
      );
      if (confirmationId) confirmations.push(pendingConfirmation(confirmationId, id, ownerAt(i), created + 500));
      if (rows.length === PER_INSERT) {
        await insertRows(trx, "tasks", rows);
        rows = [];
      }
      if (confirmations.length === PER_INSERT) {
        await insertRows(trx, "confirmations", confirmations);
        confirmations = [];
      }
    }
    if (rows.length) await insertRows(trx, "tasks", rows);
    if (confirmations.length) await insertRows(trx, "confirmations", confirmations);
    // The log's newest `events` events: progress of the newest tasks, one to a task in turn,
    // over the last six days.
    const span = 6 * DAY;
    const about = Math.max(1, Math.floor(events / EVENTS_PER_TASK));
    let batch: EventRow[] = [];
    for (let s = 1; s <= events; s++) {
      const i = tasks - 1 - ((s - 1) % about);
      const taskId = ids[i]!;
      const event = { type: "progress", taskId, owner: ownerAt(i), progress: 0.5, label: `step ${s}`, checkpoint: null, persisted: true };
      batch.push({ sequence: s, time: now - span + Math.floor((s * span) / events), task_id: taskId, owner: ownerAt(i), type: "progress", payload: JSON.stringify(event) });
      if (batch.length === PER_INSERT) {
        await insertRows(trx, "events", batch);
        batch = [];
      }
    }
    if (batch.length) await insertRows(trx, "events", batch);
  });
  await open.close();
  return { tasks, events, ids, createTimes, seconds: (performance.now() - t0) / 1000 };
}

/**
 * One `INSERT … VALUES (…), (…)` of rows with the same columns (knex writes SQLite's
 * multi-row inserts as a UNION ALL, which SQLite caps at 500 terms and plans slower).
 */
async function insertRows(trx: Knex.Transaction, table: string, rows: readonly object[]): Promise<void> {
  const columns = Object.keys(rows[0]!);
  const one = `(${columns.map(() => "?").join(",")})`;
  const values = rows.flatMap((r) => columns.map((c) => (r as Record<string, unknown>)[c]));
  await trx.raw(`insert into \`${table}\` (${columns.map((c) => `\`${c}\``).join(",")}) values ${rows.map(() => one).join(",")}`, values as never);
}

function pendingConfirmation(id: string, taskId: string, owner: string, time: number): ConfirmationRow {
  return {
    id,
    task_id: taskId,
    owner,
    surface_id: "s",
    title: "Go on?",
    components: "[]",
    state: "pending",
    action: "",
    answer_values: null,
    request_id: null,
    create_time: time,
    expire_time: null,
    resolve_time: null,
    answerers: "[]",
    timeout_action: "",
    answered_by: "",
    answer_time: null,
    defaulted: false,
  };
}

/**
 * A database seedMillion wrote earlier (kept with bench/million.ts --seeded): its ids and
 * create times read back in position order, and its event count.
 */
export async function seededFrom(db: string, tasks: number): Promise<Seeded> {
  const t0 = performance.now();
  const open = await openDatabase({ db, durability: "normal" });
  try {
    const rows = (await open.knex.raw("select id, create_time as c from tasks order by create_time, id")) as { id: string; c: number }[];
    if (rows.length !== tasks) throw new Error(`${db} holds ${rows.length} tasks, not ${tasks}`);
    const [{ n }] = (await open.knex.raw("select count(*) as n from events")) as { n: number }[];
    return { tasks, events: Number(n), ids: rows.map((r) => r.id), createTimes: rows.map((r) => Number(r.c)), seconds: (performance.now() - t0) / 1000 };
  } finally {
    await open.close();
  }
}

/** Bytes of the database file plus its WAL (and shared-memory index). */
export function databaseBytes(db: string): { file: number; wal: number } {
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return { file: size(db), wal: size(`${db}-wal`) };
}
