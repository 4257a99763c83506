import { randomBytes } from "node:crypto";
import pg from "pg";

/** Where test suites create their throwaway databases (`.ci/run` exports it). */
export const PG_ADMIN_URL = process.env.TASKCONTROL_TEST_PG_ADMIN_URL ?? "postgres://root@127.0.0.1:5432/postgres";

/** A database made for one test file or app; drop() removes it with any connection left. */
export interface TestDatabase {
  readonly name: string;
  /** postgres:// URL of the database (the admin URL with another path). */
  readonly url: string;
  /** Runs one statement on a short-lived connection to the database. */
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/**
 * Whether PostgreSQL answers at PG_ADMIN_URL. With CI=true an unreachable server throws (the
 * suite fails, never skips: CI must not go green without the PostgreSQL suites).
 */
export async function probePostgres(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return { ok: true };
  } catch (err) {
    const reason = `PostgreSQL unreachable at ${PG_ADMIN_URL}: ${(err as Error).message}`;
    if (process.env.CI === "true") throw new Error(`${reason} (CI=true: the PostgreSQL suites must run)`);
    return { ok: false, reason };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The URL of database `name` on the admin URL's server. */
export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = PG_ADMIN_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** CREATE DATABASE with a random name. */
export async function createTestDatabase(prefix = "taskcontrol_test"): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`create database "${name}"`));
  const url = databaseUrl(name);
  return {
    name,
    url,
    query: <R extends object>(sql: string, params: unknown[] = []) =>
      admin(async (c) => (await c.query(sql, params)).rows as R[], url),
    async drop() {
      await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
    },
  };
}
