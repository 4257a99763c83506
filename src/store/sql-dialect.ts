import type { Knex } from "@mikro-orm/knex";
import type { Task } from "../domain/model.js";
import type { Dialect } from "./orm.js";
import type { CommittedChanges } from "./publication.js";
import { type TaskColumn, taskColumn } from "./row-mapping.js";

// What differs between SQLite and PostgreSQL for the batch writer and the feed, behind one
// interface (sqlite-dialect.ts, postgresql-dialect.ts), plus the statement text both share.

/** A NOTIFY that rides on a writing transaction and is delivered only if it commits. */
export interface CommitNotice {
  readonly channel: string;
  readonly payload: string;
}

/** The engine-specific part of the store's SQL. */
export interface SqlDialect {
  /** Which engine this is (for logs and the choice of dialect; never branch on it elsewhere). */
  readonly name: Dialect;
  /**
   * True when no other process writes the database (SQLite): a process that publishes its own
   * commits then knows the log's last sequence without reading it.
   */
  readonly soleWriter: boolean;
  /**
   * Runs a batch's writing transaction: BEGIN, `work`, COMMIT (ROLLBACK when it throws).
   * `trx` works as a knex transaction for the statements of sql-batch.ts.
   */
  transaction<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T>;
  /**
   * Taken first in every writing transaction and held to COMMIT: serialises committers, so
   * sequence order is commit order. May answer the log's maximum sequence, read under the lock
   * in the same round trip (PostgreSQL); undefined leaves that read to the caller.
   */
  lockForCommit(trx: Knex.Transaction): Promise<number | undefined>;
  /** Runs one statement of a batch in its transaction and answers its rows. */
  execute(trx: Knex.Transaction, sql: string, params: unknown[]): Promise<unknown[]>;
  /**
   * Multi-row INSERT … VALUES in chunks under the engine's parameter limit; with `notice`
   * (PostgreSQL; SQLite has no NOTIFY and ignores it) the last chunk also sends it.
   */
  insertRows(trx: Knex.Transaction, table: string, rows: object[], notice?: CommitNotice): Promise<void>;
  /** The parameter placeholder of a VALUES list column (PostgreSQL needs a type on each). */
  valuesParam(column: TaskColumn | "base_revision"): string;
  /**
   * Events after `after` (at most `limit`) and the current rows of the tasks and
   * confirmations they name, read in one snapshot.
   */
  readCommitted(knex: Knex, after: number, limit: number): Promise<CommittedChanges>;
}

/** Splits a list into runs of at most `size` items (statements have parameter limits). */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * Splits a list into runs of `max` items (a power of two), then the rest by its binary
 * digits (n = 24: 16 and 8). Where statements stay prepared (the SQLite writer thread keeps
 * them by their text), a multi-row statement per batch size would prepare a new one for
 * almost every batch and keep hundreds of them: a prepared insert holds about 2 KiB of
 * compiled program per row of 15 columns (800 KiB for 400 rows). This ladder gives at most log2(max) + 1 sizes per statement kind.
 */
export function* ladderChunks<T>(items: readonly T[], max: number): Generator<T[]> {
  let i = 0;
  for (; items.length - i >= max; i += max) yield items.slice(i, i + max);
  for (let size = max >> 1; size >= 1; size >>= 1) {
    if (items.length - i >= size) {
      yield items.slice(i, i + size);
      i += size;
    }
  }
}

/** knex.raw answers rows on SQLite and a pg Result on PostgreSQL. */
export function rowsOf(res: unknown): unknown[] {
  return Array.isArray(res) ? res : ((res as { rows?: unknown[] }).rows ?? []);
}

/** Bindings per multi-row INSERT: under SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_BINDINGS = 30_000;

/**
 * The multi-row INSERT statements for `rows` (all of one shape), chunked under the parameter
 * limit, or with `ladder` (a power of two) in ladderChunks' few sizes of at most that many rows.
 */
export function insertStatements(table: string, rows: object[], ladder?: number): { sql: string; params: unknown[] }[] {
  if (rows.length === 0) return [];
  const columns = Object.keys(rows[0]!);
  const perChunk = Math.max(1, Math.floor(MAX_BINDINGS / columns.length));
  const rowSql = `(${columns.map(() => "?").join(", ")})`;
  const parts = ladder ? ladderChunks(rows, Math.min(ladder, perChunk)) : chunks(rows, perChunk);
  return [...parts].map((part) => {
    const params: unknown[] = new Array(part.length * columns.length);
    let k = 0;
    for (const r of part as Record<string, unknown>[]) for (const c of columns) params[k++] = r[c] ?? null;
    return { sql: `insert into ${table} (${columns.join(", ")}) values ${new Array<string>(part.length).fill(rowSql).join(", ")}`, params };
  });
}

/**
 * One UPDATE … FROM (VALUES …) writing `columns` of each task, guarded by its base revision:
 * RETURNING answers the ids that matched (fewer than the tasks means another writer got
 * there first).
 */
export function updateTasksStatement(
  dialect: SqlDialect,
  tasks: readonly Task[],
  columns: readonly TaskColumn[],
  baseRevision: (id: string) => number,
): { sql: string; params: unknown[] } {
  const rowSql = `(${[dialect.valuesParam("id"), dialect.valuesParam("base_revision"), ...columns.map((c) => dialect.valuesParam(c))].join(", ")})`;
  const params: unknown[] = new Array(tasks.length * (columns.length + 2));
  let k = 0;
  for (const t of tasks) {
    params[k++] = t.id;
    params[k++] = baseRevision(t.id);
    for (const c of columns) params[k++] = taskColumn(t, c);
  }
  const sql =
    `with v(id, base_revision, ${columns.join(", ")}) as (values ${tasks.map(() => rowSql).join(", ")}) ` +
    `update tasks set ${columns.map((c) => `${c} = v.${c}`).join(", ")} from v ` +
    `where tasks.id = v.id and tasks.revision = v.base_revision returning tasks.id`;
  return { sql, params };
}
