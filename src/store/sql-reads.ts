import type { Knex } from "@mikro-orm/knex";
import type { Confirmation, Task } from "../domain/model.js";
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

/** Every unfinished task. */
export async function selectUnfinishedTasks(knex: Knex): Promise<Task[]> {
  const rows = (await knex("tasks").whereNotIn("status", ["succeeded", "failed", "cancelled"])) as TaskRow[];
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
