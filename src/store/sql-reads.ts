import type { Knex } from "@mikro-orm/knex";
import type { Confirmation, Task, TaskStatus } from "../domain/model.js";
import type { TaskQuery } from "../domain/ports.js";
import { rowToConfirmation, rowToTask, TASK_COLUMNS } from "./row-mapping.js";
import type { ConfirmationRow, TaskRow } from "./schema.js";
import { chunks } from "./sql-dialect.js";

// Reads of committed rows by key, the same on both dialects (knex builds them), but for the
// start-up read of the unfinished tasks, which SQLite answers as JSON text.

/** Keys per IN (…) list: well under both engines' parameter limits. */
const PER_READ = 500;

/** Tasks whose `column` is one of `values`, in no particular order. */
export async function selectTasks(knex: Knex, column: "id" | "request_id", values: readonly string[]): Promise<Task[]> {
  if (values.length === 0) return [];
  const out: Task[] = [];
  for (const part of chunks(values, PER_READ)) {
    const rows = (await knex("tasks").whereIn(column, part)) as TaskRow[];
    for (const r of rows) out.push(rowToTask(r));
  }
  return out;
}

/** The statuses a task is in until it ends: every status but TERMINAL_STATUSES. */
export const UNFINISHED_STATUSES = ["running", "waiting_confirmation", "stalled"] as const satisfies readonly TaskStatus[];
// Compile-time check that the list is every status that is not terminal.
type Unfinished = (typeof UNFINISHED_STATUSES)[number];
const _everyUnfinished: Exclude<TaskStatus, "succeeded" | "failed" | "cancelled"> extends Unfinished ? true : never = true;
void _everyUnfinished;

/**
 * Every unfinished task. An IN list of the unfinished statuses, not NOT IN the finished
 * ones: the status index finds them, where NOT IN scans every row (a million at 0.5 s, most
 * of them finished). On SQLite the rows come as JSON text (selectUnfinishedSqlite).
 */
export async function selectUnfinishedTasks(knex: Knex, dialect: "sqlite" | "postgresql", perChunk = PER_JSON_CHUNK): Promise<Task[]> {
  if (dialect === "sqlite") return selectUnfinishedSqlite(knex, perChunk);
  const rows = (await knex("tasks").whereIn("status", UNFINISHED_STATUSES)) as TaskRow[];
  return rows.map(rowToTask);
}

/** Tasks per JSON chunk of the SQLite start-up read (a few MB of text each). */
export const PER_JSON_CHUNK = 20_000;

/**
 * The SQLite driver builds a JS object value by value, about 13 µs a task (1.3 s of CPU
 * for 100,000 unfinished tasks at start-up); SQLite writes the same rows as one JSON text
 * per chunk in a tenth of that, and JSON.parse reads it back fast. Chunks walk the status
 * index in (create_time, id) order. progress, the only REAL, goes as printf('%!.17g') text:
 * JSON's own REAL form keeps 15 digits and would round it.
 */
async function selectUnfinishedSqlite(knex: Knex, perChunk: number): Promise<Task[]> {
  const fields = TASK_COLUMNS.map((c) => (c === "progress" ? "printf('%!.17g', `progress`)" : `\`${c}\``)).join(", ");
  const sql =
    `select json_group_array(json_array(${fields})) as j from ` +
    "(select * from `tasks` where `status` = ? and (`create_time`, `id`) > (?, ?) order by `create_time`, `id` limit ?)";
  // One read transaction: every chunk sees the same snapshot.
  return knex.transaction(async (trx) => {
    const out: Task[] = [];
    for (const status of UNFINISHED_STATUSES) {
      let last: Task | undefined;
      for (;;) {
        const [{ j }] = (await trx.raw(sql, [status, last?.createTime ?? Number.MIN_SAFE_INTEGER, last?.id ?? "", perChunk])) as { j: string }[];
        const rows = JSON.parse(j) as unknown[][];
        for (const v of rows) {
          const task = rowToTask(taskRowOf(v));
          out.push(task);
          if (!last || afterInIndex(task, last)) last = task;
        }
        if (rows.length < perChunk) break;
      }
    }
    return out;
  });
}

/**
 * The row of a JSON array in TASK_COLUMNS order, as one object literal (V8 gives it one
 * shape; keys set one by one from the column list made slow dictionary objects).
 */
function taskRowOf(v: readonly unknown[]): TaskRow {
  return {
    id: v[0], owner: v[1], kind: v[2], label: v[3], status: v[4], progress: v[5], checkpoint: v[6], result: v[7],
    error_message: v[8], error_details: v[9], cancel_requested: v[10], cancel_reason: v[11], request_id: v[12],
    pending_confirmation_id: v[13], create_time: v[14], update_time: v[15], end_time: v[16], revision: v[17], attempt: v[18],
    lease_duration: v[19], lease_expire_time: v[20], stall_time: v[21], claim_request_id: v[22],
  } as TaskRow;
}

/** Whether a comes after b in (create_time, id) order, ids compared as SQLite does (UTF-8 bytes). */
function afterInIndex(a: Task, b: Task): boolean {
  if (a.createTime !== b.createTime) return a.createTime > b.createTime;
  return Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)) > 0;
}

/**
 * One ListTasks page, newest first: (create_time, id) descending after `before`, with the
 * owner and status filters. A knex query, not MikroORM's em.find: the ORM's hydration of a
 * 51-row page cost about 2.5 ms of CPU against 0.5 ms for these rows (measured on the seeded
 * million-task database). The indexes it uses are checked by test/integration/query-plans.test.ts.
 */
export async function selectTaskPage(knex: Knex, query: TaskQuery): Promise<Task[]> {
  const q = knex("tasks");
  if (query.owner !== undefined) q.where("owner", query.owner);
  if (query.statuses && query.statuses.length > 0) q.whereIn("status", query.statuses);
  const before = query.before;
  // A row value, so the index is entered at the token's place: the same condition as
  // "create_time < c OR (create_time = c AND id < i)", which SQLite plans as a scan from the
  // newest task when c comes as two parameters (a deep page then reads every newer task).
  if (before) q.whereRaw("(??, ??) < (?, ?)", ["create_time", "id", before.createTime, before.id]);
  const rows = (await q
    .orderBy([
      { column: "create_time", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(query.limit)) as TaskRow[];
  return rows.map(rowToTask);
}

/** Confirmations by id, in no particular order. */
export async function selectConfirmations(knex: Knex, ids: readonly string[]): Promise<Confirmation[]> {
  if (ids.length === 0) return [];
  const out: Confirmation[] = [];
  for (const part of chunks(ids, PER_READ)) {
    const rows = (await knex("confirmations").whereIn("id", part)) as ConfirmationRow[];
    for (const r of rows) out.push(rowToConfirmation(r));
  }
  return out;
}

/** Every PENDING confirmation. */
export async function selectPendingConfirmations(knex: Knex): Promise<Confirmation[]> {
  const rows = (await knex("confirmations").where({ state: "pending" })) as ConfirmationRow[];
  return rows.map(rowToConfirmation);
}

/** (task_id, request_id) pairs per read of selectConfirmationsByRequest. */
const PAIRS_PER_READ = 200;

/** Confirmations by (task id, request id). */
export async function selectConfirmationsByRequest(
  knex: Knex,
  pairs: readonly { readonly taskId: string; readonly requestId: string }[],
): Promise<Confirmation[]> {
  const found: Confirmation[] = [];
  // One OR per pair: SQLite parses the chain as a tree as deep as the pairs are many, and
  // refuses one deeper than 1,000 ("Expression tree is too large"); a batch holds up to 2,000.
  for (const part of chunks(pairs, PAIRS_PER_READ)) {
    const rows = (await knex("confirmations").where((qb) => {
      for (const p of part) qb.orWhere({ task_id: p.taskId, request_id: p.requestId });
    })) as ConfirmationRow[];
    for (const row of rows) found.push(rowToConfirmation(row));
  }
  return found;
}

/** The highest sequence in the log (0 when empty); inside a transaction, as that transaction sees it. */
export async function maxSequence(knex: Knex | Knex.Transaction): Promise<number> {
  const [{ s }] = (await knex("events").max({ s: "sequence" })) as { s: number | string | null }[];
  return Number(s ?? 0);
}
