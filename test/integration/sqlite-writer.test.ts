import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UnavailableError } from "../../src/domain/errors.js";
import { createTaskManager } from "../../src/domain/task-manager.js";
import { createEventHub } from "../../src/events/hub.js";
import { createDbGuard } from "../../src/store/db-guard.js";
import { openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore } from "../../src/store/sql-task-store.js";
import { DatabaseStartupError } from "../../src/store/sqlite-lock.js";
import { WriterConflict } from "../../src/store/sqlite-writer.js";
import { trackLeaks } from "../support/leaks.js";

/** The SQLite file's write connection on its own thread (sqlite-writer.ts). */

const leaks = trackLeaks();
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-writer-"));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

async function opened(name: string, durability: "normal" | "full" = "normal") {
  const db = await openDatabase({ db: join(dir, name), durability });
  const store = createSqlTaskStore(db);
  await store.open();
  const manager = createTaskManager({ store, live: createEventHub() });
  manager.open();
  return { db, store, manager };
}

describe("the SQLite writer thread", () => {
  it("commits a file database's batches, and a guard miss rolls the whole transaction back", async () => {
    const { db, manager } = await opened("guard.sqlite");
    try {
      assert.ok(db.writer, "a file database gets a writer thread");
      const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
      const events = Number(((await db.knex("events").count({ n: "*" })) as { n: number }[])[0]!.n);
      await assert.rejects(
        db.writer!.transaction([
          { sql: "insert into events (sequence, time, task_id, owner, type, payload) values (?, ?, ?, ?, ?, ?)", params: [10_000, 1, task.id, "o", "x", "{}"] },
          { sql: "update tasks set label = 'lost' where id = ? and revision = ? returning id", params: [task.id, 99], expect: 1, conflict: "a task changed under the batch" },
        ]),
        (err) => err instanceof WriterConflict && /changed under the batch/.test(err.message),
      );
      const after = Number(((await db.knex("events").count({ n: "*" })) as { n: number }[])[0]!.n);
      assert.equal(after, events, "the INSERT before the missed guard is not kept");
      const [row] = (await db.knex("tasks").where({ id: task.id })) as { label: string }[];
      assert.equal(row!.label, "");
    } finally {
      manager.close();
      await db.close();
    }
  });

  it("re-applies a batch whose task changed under the cache (the UPDATE guard missed)", async () => {
    const { db, store, manager } = await opened("retry.sqlite");
    try {
      const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
      // Another write the cache did not see: the next UPDATE's base revision is stale.
      await db.writer!.transaction([{ sql: "update tasks set revision = revision + 1, label = 'elsewhere' where id = ?", params: [task.id] }]);
      const outcome = await manager.updateProgress({ taskId: task.id, progress: 0.5 });
      assert.equal(outcome.applied, true);
      const [row] = (await db.knex("tasks").where({ id: task.id })) as { label: string; revision: number; progress: number }[];
      assert.deepEqual([row!.label, Number(row!.revision), row!.progress], ["elsewhere", 3, 0.5], "applied over the re-read row");
      assert.equal((await store.getTask(task.id))!.revision, 3);
    } finally {
      manager.close();
      await db.close();
    }
  });

  it("trims the event log through the writer, never the newest event", async () => {
    const { db, store, manager } = await opened("trim.sqlite");
    try {
      const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
      for (const progress of [0.1, 0.2, 0.3, 0.4]) await manager.updateProgress({ taskId: task.id, progress });
      const last = store.lastSequence();
      assert.equal(await store.eventCount(), 5);
      assert.equal(await store.trimEvents({ maxEvents: 2, maxAgeMs: 3_600_000 }), 3);
      assert.deepEqual((await store.readEvents(0, 10)).map((e) => e.sequence), [last - 1, last]);
      assert.equal(await store.trimEvents({ maxEvents: 1_000, maxAgeMs: -1_000 }), 1, "by age: all but the newest");
      assert.deepEqual((await store.readEvents(0, 10)).map((e) => e.sequence), [last]);
    } finally {
      manager.close();
      await db.close();
    }
  });

  it("syncs with the configured durability on its own connection", async () => {
    for (const [durability, level] of [["normal", 1], ["full", 2]] as const) {
      const { db, manager } = await opened(`sync-${durability}.sqlite`, durability);
      try {
        const [[row]] = (await db.writer!.transaction([{ sql: "pragma synchronous", params: [] }])).rows as { synchronous: number }[][];
        assert.equal(row!.synchronous, level, durability);
        const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
        assert.equal((await manager.updateProgress({ taskId: task.id, progress: 0.5 })).applied, true);
      } finally {
        manager.close();
        await db.close();
      }
    }
  });

  it("keeps statement journals in memory and checkpoints at 10,000 WAL frames, and leaves no WAL at close", async () => {
    const path = join(dir, "journal.sqlite");
    const { db, manager } = await opened("journal.sqlite");
    try {
      const [[temp], [checkpoint]] = (await db.writer!.transaction([
        { sql: "pragma temp_store", params: [] },
        { sql: "pragma wal_autocheckpoint", params: [] },
      ])).rows as [{ temp_store: number }[], { wal_autocheckpoint: number }[]];
      assert.equal(temp!.temp_store, 2, "MEMORY");
      assert.equal(checkpoint!.wal_autocheckpoint, 10_000);
      const [read] = (await db.knex.raw("pragma temp_store")) as { temp_store: number }[];
      assert.equal(read!.temp_store, 2, "the ORM's connection too");
      const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
      for (let i = 1; i <= 20; i++) assert.equal((await manager.updateProgress({ taskId: task.id, progress: i / 20 })).applied, true);
      assert.ok(statSync(`${path}-wal`).size > 0, "the writes are in the WAL");
    } finally {
      manager.close();
      await db.close();
    }
    assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, "the WAL was checkpointed into the file at close");
    const reopened = await openDatabase({ db: path, durability: "normal" });
    try {
      const [row] = (await reopened.knex("tasks")) as { progress: number }[];
      assert.equal(row!.progress, 1);
    } finally {
      await reopened.close();
    }
  });

  it("acknowledges no write once the file was deleted", async () => {
    const path = join(dir, "lost.sqlite");
    const db = await openDatabase({ db: path, durability: "normal" });
    const guard = createDbGuard({ db: path, dialect: "sqlite", knex: db.knex, checkMs: 60_000 });
    const store = guard.guard(createSqlTaskStore(db, { verifyCommit: () => guard.verifyCommit() }));
    await (store as unknown as { open(): Promise<void> }).open();
    const manager = createTaskManager({ store, live: createEventHub() });
    manager.open();
    try {
      const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
      unlinkSync(path);
      await assert.rejects(manager.updateProgress({ taskId: task.id, progress: 0.5 }), (err) => err instanceof UnavailableError && /deleted/.test(err.message));
    } finally {
      manager.close();
      guard.close();
      await db.close();
    }
  });

  it("refuses a second opener of the same file, and frees it at close", async () => {
    const path = join(dir, "twice.sqlite");
    const first = await openDatabase({ db: path, durability: "normal" });
    try {
      await assert.rejects(openDatabase({ db: path, durability: "normal" }), DatabaseStartupError);
    } finally {
      await first.close();
    }
    const again = await openDatabase({ db: path, durability: "normal" });
    await again.close();
  });
});
