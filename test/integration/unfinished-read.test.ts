import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Task } from "../../src/domain/model.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { taskToRow } from "../../src/store/row-mapping.js";
import { selectUnfinishedTasks } from "../../src/store/sql-reads.js";
import { createSqlTaskStore } from "../../src/store/sql-task-store.js";
import { taskFixture } from "../support/fixtures.js";

/**
 * Start-up reads every unfinished task; on SQLite the rows come back as JSON text in chunks
 * (src/store/sql-reads.ts). Whatever a row holds, the task read that way is the one the
 * driver's own rows give: doubles to the last bit, text of any kind, JSON columns, nulls.
 */

let dir: string;
let db: OpenDatabase;
const T = 1_790_000_000_000;

function task(i: number, patch: Partial<Task>): Task {
  return taskFixture({
    id: `t-${String(i).padStart(4, "0")}`,
    owner: "alice",
    kind: "k",
    // Several tasks share a create time: chunks must not skip or repeat any of them.
    createTime: T + Math.floor(i / 3),
    updateTime: T + i,
    ...patch,
  });
}


const statuses = ["running", "waiting_confirmation", "stalled", "succeeded", "failed", "cancelled"] as const;
const tasks: Task[] = Array.from({ length: 60 }, (_, i) =>
  task(i, {
    status: statuses[i % statuses.length]!,
    progress: [1 / 3, 0.1 + 0.2, 0, 1, 5e-324, 0.9999999999999999, Math.PI / 10][i % 7]!,
    label: ['plain', 'quote " and \\ backslash', "line\nbreak\ttab", "ünïcödé ✓ 😀", "\u2028\u2029", ""][i % 6]!,
    checkpoint: i % 4 === 0 ? { step: i, ratio: 2 / 3, nested: { list: [1, "two", null, true] }, text: "é\"" } : null,
    errorDetails: i % 5 === 0 ? { reason: "STALLED", at: 1e21 } : null,
    cancelRequested: i % 2 === 0,
    cancelReason: i % 2 === 0 ? "asked" : "",
    requestId: i % 3 === 0 ? `r-${i}` : null,
    pendingConfirmationId: i % 6 === 1 ? `c-${i}` : null,
    leaseDurationMs: i % 4 === 1 ? 60_000 : null,
    leaseExpireTime: i % 4 === 1 ? T + 60_000 + i : null,
    stallTime: i % 6 === 2 ? T + i : null,
    attempt: 1 + (i % 3),
    revision: 1 + i,
    claimRequestId: i % 7 === 0 ? `claim-${i}` : null,
  }),
);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-unfinished-"));
  db = await openDatabase({ db: join(dir, "u.sqlite"), durability: "normal" });
  await db.knex("tasks").insert(tasks.map(taskToRow));
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

const byId = (xs: readonly Task[]) => new Map(xs.map((t) => [t.id, t]));
const unfinished = tasks.filter((t) => !["succeeded", "failed", "cancelled"].includes(t.status));

describe("the start-up read of the unfinished tasks on SQLite", () => {
  for (const perChunk of [1, 4, 7, 1000]) {
    it(`answers every unfinished task exactly, ${perChunk} per chunk`, async () => {
      const read = await selectUnfinishedTasks(db.knex, "sqlite", perChunk);
      assert.equal(read.length, unfinished.length, "none skipped, none twice");
      assert.deepEqual(byId(read), byId(unfinished));
      // And the same as the driver's own rows (the plain query).
      assert.deepEqual(byId(read), byId(await selectUnfinishedTasks(db.knex, "postgresql")));
    });
  }

  it("is what the store holds after open", async () => {
    const store = createSqlTaskStore(db);
    await store.open();
    assert.deepEqual(byId([...store.activeTasks({})]), byId(unfinished));
    for (const t of unfinished) assert.equal(Object.is(store.peekTask(t.id)!.progress, t.progress), true);
    await store.flush();
  });
});
