// Task retention on a real SQLite database: finished tasks older than the age leave the store
// with their confirmations, in bounded batches; unfinished and recent ones stay; a purged
// task is NOT_FOUND through the manager, cached or not.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { NotFoundError } from "../../src/domain/errors.js";
import type { Component } from "../../src/domain/model.js";
import { createTaskManager } from "../../src/domain/task-manager.js";
import { createEventHub } from "../../src/events/hub.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { domainComponent } from "../support/fixtures.js";
import { trackLeaks } from "../support/leaks.js";

const leaks = trackLeaks();
const DAY = 24 * 3600 * 1000;
const buttons: Component[] = [domainComponent.button("ok", { label: "OK", action: "ok", style: "primary" })];
let dir: string;
let db: OpenDatabase;
let store: SqlTaskStore;
let manager: ReturnType<typeof createTaskManager>;
let now = 1_000 * DAY;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-retention-"));
  db = await openDatabase({ db: join(dir, "r.sqlite"), durability: "normal" });
  store = createSqlTaskStore(db, { clock: () => now });
  await store.open();
  manager = createTaskManager({ store, live: createEventHub(), clock: () => now });
  manager.open();
});
after(async () => {
  manager.close();
  await store.flush();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

const create = (label: string) => manager.createTask({ owner: "o", kind: "k", label, checkpoint: null, requestId: "" });
const count = async (table: string, where: Record<string, unknown> = {}) =>
  Number(((await db.knex(table).where(where).count({ n: "*" })) as { n: number | string }[])[0]!.n);

describe("finished-task retention", () => {
  it("purges finished tasks older than the age and their confirmations, in batches; keeps the rest", async () => {
    // Old: three ways of finishing, one with an answered and one with a cancelled confirmation.
    const done = await create("done");
    await manager.completeTask({ taskId: done.id, result: { ok: true } });
    const failed = await create("failed");
    const asked = manager.requestConfirmation({ taskId: failed.id, title: "?", components: buttons, requestId: "", timeoutMs: 0 });
    const pending = await asked;
    await manager.resolveConfirmation({ confirmationId: pending.id, action: "ok", values: {}, answerer: { name: "alice", role: "user" } });
    await manager.failTask({ taskId: failed.id, errorMessage: "boom", details: null });
    const cancelled = await create("cancelled");
    const held = await manager.requestConfirmation({ taskId: cancelled.id, title: "?", components: buttons, requestId: "", timeoutMs: 0 });
    await manager.cancelTask({ taskId: cancelled.id, reason: "enough" });
    const extra = [];
    for (let i = 0; i < 5; i += 1) {
      const t = await create(`old-${i}`);
      await manager.completeTask({ taskId: t.id, result: null });
      extra.push(t);
    }
    // Old but unfinished: stays however old it is.
    const running = await create("running");
    const waiting = await create("waiting");
    const stillPending = await manager.requestConfirmation({ taskId: waiting.id, title: "?", components: buttons, requestId: "", timeoutMs: 0 });

    now += 31 * DAY;
    // Finished recently: stays.
    const recent = await create("recent");
    await manager.completeTask({ taskId: recent.id, result: null });
    now += DAY;

    const old = [done, failed, cancelled, ...extra];
    // Read once, so the cache holds them: a purge must not leave them served from memory.
    for (const t of old) assert.equal((await manager.getTask(t.id)).id, t.id);
    assert.equal(await count("confirmations", { task_id: failed.id }), 1);

    const batches: number[] = [];
    const purged = await store.purgeFinishedTasks({ maxAgeMs: 30 * DAY, batchSize: 3, onBatch: (n) => batches.push(n) });
    assert.equal(purged, old.length);
    assert.deepEqual(batches, [3, 3, 2], "bounded batches, each its own transaction");

    for (const t of old) {
      await assert.rejects(manager.getTask(t.id), NotFoundError, `${t.label} is NOT_FOUND once purged`);
      assert.equal(await count("tasks", { id: t.id }), 0);
    }
    assert.equal(await count("confirmations", { task_id: failed.id }), 0, "the answered confirmation went with its task");
    assert.equal(await count("confirmations", { id: held.id }), 0, "so did the cancelled one");
    await assert.rejects(
      manager.resolveConfirmation({ confirmationId: held.id, action: "ok", values: {}, answerer: { name: "alice", role: "user" } }),
      NotFoundError,
      "a purged confirmation is NOT_FOUND",
    );
    assert.equal((await manager.getTask(running.id)).status, "running");
    assert.equal((await manager.getTask(waiting.id)).status, "waiting_confirmation");
    assert.equal(await count("confirmations", { id: stillPending.id }), 1);
    assert.equal((await manager.getTask(recent.id)).status, "succeeded");
    const listed = (await manager.listTasks({ limit: 100 })).map((t) => t.label).sort();
    assert.deepEqual(listed, ["recent", "running", "waiting"]);

    assert.equal(await store.purgeFinishedTasks({ maxAgeMs: 30 * DAY, batchSize: 3 }), 0, "a second sweep finds nothing");
    // Writes go on while and after purging.
    assert.equal((await manager.updateProgress({ taskId: running.id, progress: 0.5 })).applied, true);
  });
});
