import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TaskQuery } from "../../src/domain/ports.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";

/**
 * The queries whose cost would grow with every task ever kept (start-up's read of the
 * unfinished tasks, ListTasks pages) find their rows through an index, in page order: the
 * plan SQLite makes for the very SQL the store sends (captured from knex), read with
 * EXPLAIN QUERY PLAN. bench/million.ts measures what these plans cost at a million tasks.
 */

let dir: string;
let db: OpenDatabase;
let store: SqlTaskStore;
let sent: { sql: string; bindings: unknown[] }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-plans-"));
  db = await openDatabase({ db: join(dir, "p.sqlite"), durability: "normal" });
  db.knex.on("query", (q: { sql: string; bindings?: unknown[] }) => sent.push({ sql: q.sql, bindings: q.bindings ?? [] }));
  store = createSqlTaskStore(db);
});
after(async () => {
  await store.flush();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The plan lines of the statements `run` sends that read `tasks` (EXPLAIN QUERY PLAN). */
async function plansOf(run: () => Promise<unknown>): Promise<string[]> {
  sent = [];
  await run();
  const reads = sent.filter((q) => /^select .*from `tasks`/i.test(q.sql));
  assert.ok(reads.length > 0, `no read of tasks among: ${sent.map((q) => q.sql).join("; ")}`);
  const plans: string[] = [];
  for (const q of reads) {
    const rows = (await db.knex.raw(`explain query plan ${q.sql}`, q.bindings as never)) as { detail: string }[];
    plans.push(rows.map((r) => r.detail).join(" | "));
  }
  return plans;
}

async function listPlan(query: TaskQuery): Promise<string> {
  const [plan] = await plansOf(() => store.listTasks(query));
  return plan!;
}

describe("query plans at any size", () => {
  it("start-up reads the unfinished tasks through the status index, not a scan of every task", async () => {
    const plans = await plansOf(() => store.open());
    for (const plan of plans) {
      assert.match(plan, /SEARCH tasks USING (COVERING )?INDEX tasks_status_create_idx \(status=\?/, plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    }
  });

  const before = { createTime: 1_700_000_000_000, id: "t-5" };
  for (const [what, query, index] of [
    ["a first page", { limit: 51 }, "tasks_create_idx"],
    ["a deep page", { limit: 51, before }, "tasks_create_idx"],
    ["an owner's first page", { owner: "alice", limit: 51 }, "tasks_owner_create_idx"],
    ["an owner's deep page", { owner: "alice", limit: 51, before }, "tasks_owner_create_idx"],
    ["one status, first page", { statuses: ["running"], limit: 51 }, "tasks_status_create_idx"],
    ["one status, deep page", { statuses: ["succeeded"], limit: 51, before }, "tasks_status_create_idx"],
  ] as const) {
    it(`ListTasks, ${what}: ${index} in page order, no sort of the matching tasks`, async () => {
      const plan = await listPlan(query as TaskQuery);
      assert.match(plan, new RegExp(`INDEX ${index}\\b`), plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
      // A deep page enters the index at the token's place, not at the newest task.
      if ("before" in query) assert.match(plan, /^SEARCH tasks USING INDEX \w+ \(.*\(create_time,id\)<\(\?,\?\)\)$/, plan);
    });
  }

  for (const [what, b] of [["first", undefined], ["deep", before]] as const) {
    it(`ListTasks, two statuses, ${what} page: each status's range of tasks_status_create_idx, not every task`, async () => {
      const plan = await listPlan({ statuses: ["running", "stalled"], limit: 51, before: b });
      // No one range is in page order, so SQLite sorts; but it reads each status's range
      // newest first and stops it once the page is full (bench/million.ts: the two-status row).
      assert.match(plan, b ? /^SEARCH tasks USING INDEX tasks_status_create_idx \(status=\? AND \(create_time,id\)<\(\?,\?\)\)/ : /^SEARCH tasks USING INDEX tasks_status_create_idx \(status=\?\)/, plan);
    });
  }

  for (const [what, b] of [["first", undefined], ["deep", before]] as const) {
    it(`ListTasks, an owner and one status, ${what} page: tasks_owner_status_create_idx in page order`, async () => {
      const plan = await listPlan({ owner: "alice", statuses: ["running"], limit: 51, before: b });
      assert.match(plan, /INDEX tasks_owner_status_create_idx \(owner=\? AND status=\?/, plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
      if (b) assert.match(plan, /\(create_time,id\)<\(\?,\?\)\)$/, plan);
    });
  }
});
