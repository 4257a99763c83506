import type { Knex } from "@mikro-orm/knex";
import type { Confirmation, Task, TaskStatus } from "../domain/model.js";
import { rowToConfirmation, rowToTask } from "./row-mapping.js";
import type { ConfirmationRow, TaskRow } from "./schema.js";
import { chunks } from "./sql-dialect.js";

// Reads of committed rows by key, the same on both dialects (knex builds them).

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
 * of them finished).
 */
export async function selectUnfinishedTasks(knex: Knex): Promise<Task[]> {
  const rows = (await knex("tasks").whereIn("status", UNFINISHED_STATUSES)) as TaskRow[];
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

/** Confirmations by (task id, request id). */
export async function selectConfirmationsByRequest(
  knex: Knex,
  pairs: readonly { readonly taskId: string; readonly requestId: string }[],
): Promise<Confirmation[]> {
  if (pairs.length === 0) return [];
  const rows = (await knex("confirmations").where((qb) => {
    for (const p of pairs) qb.orWhere({ task_id: p.taskId, request_id: p.requestId });
  })) as ConfirmationRow[];
  return rows.map(rowToConfirmation);
}

/** The highest sequence in the log (0 when empty); inside a transaction, as that transaction sees it. */
export async function maxSequence(knex: Knex | Knex.Transaction): Promise<number> {
  const [{ s }] = (await knex("events").max({ s: "sequence" })) as { s: number | string | null }[];
  return Number(s ?? 0);
}
