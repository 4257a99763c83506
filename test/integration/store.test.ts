import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UnavailableError } from "../../src/domain/errors.js";
import type { SequencedEvent, Task } from "../../src/domain/model.js";
import { createTaskManager } from "../../src/domain/task-manager.js";
import { createEventHub } from "../../src/events/hub.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { trackLeaks } from "../support/leaks.js";

/** The store on a real MikroORM + SQLite database in a temp directory. */

const leaks = trackLeaks();
let dir: string;
let db: OpenDatabase;
let store: SqlTaskStore;
let manager: ReturnType<typeof createTaskManager>;
const batches: number[] = [];
/** The sequences of each onCommit publication, in the order the store made them. */
const commits: number[][] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-store-"));
  db = await openDatabase({ db: join(dir, "s.sqlite"), durability: "normal" });
  store = createSqlTaskStore(db);
  await store.open();
  store.onBatch((n) => batches.push(n));
  store.onCommit((events: readonly SequencedEvent[]) => commits.push(events.map((e) => e.sequence)));
  manager = createTaskManager({ store, live: createEventHub() });
  manager.open();
});
after(async () => {
  manager.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

describe("migrations", () => {
  it("create exactly the schema the entities describe, in WAL mode", async () => {
    const diff = await db.orm.schema.getUpdateSchemaSQL({ wrap: false });
    assert.equal(diff.trim(), "", `entities and migrations disagree:\n${diff}`);
    const [mode] = (await db.knex.raw("pragma journal_mode")) as { journal_mode: string }[];
    assert.equal(mode!.journal_mode, "wal");
    const [sync] = (await db.knex.raw("pragma synchronous")) as { synchronous: number }[];
    assert.equal(sync!.synchronous, 1, "NORMAL");
  });
});

describe("group commit", () => {
  it("commits concurrent mutations in few transactions, coalescing rows but not events", async () => {
    const task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
    const tasks = await Promise.all(
      Array.from({ length: 20 }, () => manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" })),
    );
    batches.length = 0;
    const seqBefore = store.lastSequence();
    const outcomes = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => manager.updateProgress({ taskId: task.id, progress: (i + 1) / 50 })),
      ...tasks.map((x) => manager.updateProgress({ taskId: x.id, progress: 0.5 })),
    ]);
    assert.ok(outcomes.every((o) => o.applied));
    assert.equal(batches.reduce((a, b) => a + b, 0), 70);
    assert.ok(batches.length <= 3, `70 concurrent updates took ${batches.length} transactions`);
    assert.equal(store.lastSequence() - seqBefore, 70, "one event per update");
    const row = (await db.knex("tasks").where({ id: task.id }))[0] as { revision: number; progress: number };
    assert.deepEqual([Number(row.revision), row.progress], [51, 1], "the row holds the last of 50 coalesced updates");
    const events = await store.readEvents(seqBefore, 1000);
    assert.deepEqual(
      events.map((e) => e.sequence),
      Array.from({ length: 70 }, (_, i) => seqBefore + i + 1),
    );
  });

  it("answers every caller of a failed commit UNAVAILABLE and keeps memory equal to the database", async () => {
    const task = await manager.createTask({ owner: "o", kind: "", label: "before", checkpoint: null, requestId: "" });
    await db.knex.raw("create trigger fail_events before insert on events begin select raise(abort, 'disk on fire'); end");
    try {
      const results = await Promise.allSettled([
        manager.updateProgress({ taskId: task.id, progress: 0.9, label: "lost" }),
        manager.updateProgress({ taskId: task.id, progress: 0.8 }),
      ]);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        assert.ok((r as PromiseRejectedResult).reason instanceof UnavailableError);
      }
    } finally {
      await db.knex.raw("drop trigger fail_events");
    }
    const cached = (await store.getTask(task.id)) as Task;
    assert.deepEqual([cached.label, cached.progress, cached.revision], ["before", 0, 1]);
    const row = (await db.knex("tasks").where({ id: task.id }))[0] as { label: string; revision: number };
    assert.deepEqual([row.label, Number(row.revision)], ["before", 1]);
    const ok = await manager.updateProgress({ taskId: task.id, progress: 0.3 });
    assert.equal(ok.applied, true, "the store keeps working after a failed batch");
  });

  it("publishes each commit's events once, in sequence order", async () => {
    // Its own commits, so that it means the same run alone (--test-name-pattern) or with the rest.
    commits.length = 0;
    const seqBefore = store.lastSequence();
    const tasks = await Promise.all(
      Array.from({ length: 10 }, () => manager.createTask({ owner: "pub", kind: "", label: "", checkpoint: null, requestId: "" })),
    );
    await Promise.all(tasks.flatMap((x) => [0.3, 0.6].map((progress) => manager.updateProgress({ taskId: x.id, progress }))));
    await manager.completeTask({ taskId: tasks[0]!.id, result: null });
    const logged = (await store.readEvents(seqBefore, 1000)).map((e) => e.sequence);
    assert.equal(logged.length, 10 + 20 + 1, "one logged event per mutation");
    assert.deepEqual(commits.flat(), logged, "every committed event published exactly once, in sequence order");
    for (const c of commits) assert.ok(c.length > 0, "no empty publication");
    assert.ok(commits.length < logged.length, `group commit publishes a batch at a time (${commits.length} publications)`);
  });
});
