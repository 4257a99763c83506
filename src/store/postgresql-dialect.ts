import type { Knex } from "@mikro-orm/knex";
import { rowToConfirmation, rowToEvent, rowToTask } from "./row-mapping.js";
import type { ConfirmationRow, EventRow, TaskRow } from "./schema.js";
import { insertStatements, rowsOf, type SqlDialect } from "./sql-dialect.js";

/** The advisory lock every replica's committing transaction takes (any constant shared by all). */
const COMMIT_LOCK = 7215001;

/** PostgreSQL types of the VALUES columns that are not text (parameters arrive untyped). */
const VALUES_TYPES: Record<string, string> = {
  base_revision: "bigint",
  progress: "double precision",
  cancel_requested: "boolean",
  update_time: "bigint",
  end_time: "bigint",
  revision: "int",
  attempt: "int",
  lease_duration: "bigint",
  lease_expire_time: "bigint",
  stall_time: "bigint",
};

/**
 * readCommitted: events after $1 (at most $2) with the rows of the tasks and confirmations
 * they name, as three JSON arrays from one statement.
 */
const READ_COMMITTED = `
with ev as (
  select sequence, time, task_id, owner, type, payload from events where sequence > ? order by sequence limit ?
)
select
  (select coalesce(json_agg(ev order by sequence), '[]') from ev) as events,
  (select coalesce(json_agg(t), '[]') from tasks t where t.id in (select task_id from ev)) as tasks,
  (select coalesce(json_agg(c), '[]') from confirmations c where c.id in (
    select payload::json -> 'confirmation' ->> 'id' from ev where type in ('confirmation_requested', 'confirmation_resolved')
    union all
    select payload::json -> 'pending' ->> 'id' from ev where type = 'status_changed'
  )) as confirmations`;

async function execute(trx: Knex.Transaction, sql: string, params: unknown[]): Promise<unknown[]> {
  return rowsOf(await trx.raw(sql, params as Knex.RawBinding[]));
}

/** PostgreSQL: several replicas may write; commits take an advisory lock and can NOTIFY. */
export const postgresqlDialect: SqlDialect = {
  name: "postgresql",
  soleWriter: false,

  transaction: (knex, work) => knex.transaction(work),

  async lockForCommit(trx) {
    // Held to COMMIT: sequences read under it follow commit order across replicas. Two
    // statements in one simple-protocol message (one round trip of the lock's holder fewer):
    // the second takes its snapshot after the lock is granted, so it sees every commit that
    // released it. (One statement would not: its snapshot predates the wait.)
    const res = await trx.raw(`select pg_advisory_xact_lock(${COMMIT_LOCK}); select coalesce(max(sequence), 0)::text as s from events`);
    const results = res as { rows: { s: string }[] }[];
    if (!Array.isArray(results) || results.length !== 2) throw new Error("lockForCommit: expected two results from the lock and the max(sequence)");
    return Number(results[1]!.rows[0]!.s);
  },

  execute,

  async insertRows(trx, table, rows, notice) {
    const statements = insertStatements(table, rows);
    for (const [i, { sql, params }] of statements.entries()) {
      if (notice && i === statements.length - 1) {
        // A data-modifying WITH runs to completion whether or not the outer query reads it;
        // riding on the INSERT costs no round trip while the commit lock is held.
        await trx.raw(`with ins as (${sql}) select pg_notify(?, ?)`, [...params, notice.channel, notice.payload] as Knex.RawBinding[]);
      } else {
        await execute(trx, sql, params);
      }
    }
  },

  valuesParam: (column) => `?::${VALUES_TYPES[column] ?? "text"}`,

  async readCommitted(knex, after, limit) {
    // One statement is one snapshot (rows no older than the events) and one round trip: under
    // a mixed load nearly every batch waits for such a read before its callers are answered.
    const res = await knex.raw(READ_COMMITTED, [after, limit]);
    const row = rowsOf(res)[0] as { events: EventRow[]; tasks: TaskRow[]; confirmations: ConfirmationRow[] };
    return {
      events: row.events.map(rowToEvent),
      tasks: row.tasks.map(rowToTask),
      confirmations: row.confirmations.map(rowToConfirmation),
    };
  },
};
