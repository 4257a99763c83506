import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { TaskStore } from "../../src/domain/ports.js";
import { createTaskManager, type TaskManager } from "../../src/domain/task-manager.js";
import { createEventHub } from "../../src/events/hub.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { errorOf, type InProcessService, startInProcess } from "../support/in-process.js";
import { trackLeaks } from "../support/leaks.js";
import type { Component } from "../../src/domain/model.js";

const leaks = trackLeaks();
after(() => leaks.check());

const SURFACE: Component[] = [
  { id: "msg", kind: "text", text: "Replace it?" },
  { id: "ok", kind: "button", label: "Replace", action: "replace", style: "primary" },
];

describe("ResolveConfirmation reads the confirmation once", () => {
  let s: InProcessService;
  let reads = 0;
  before(async () => {
    s = await startInProcess({
      wrapStore: (store) => {
        const counting: TaskStore = Object.create(store) as TaskStore;
        counting.getConfirmation = (id) => {
          reads++;
          return store.getConfirmation(id);
        };
        return counting;
      },
    });
  });
  after(() => s.close());

  async function pending(owner: string) {
    const task = await s.manager.createTask({ owner, kind: "k", label: "", checkpoint: null, requestId: "" });
    return s.manager.requestConfirmation({ taskId: task.id, title: "t", components: SURFACE, requestId: "", timeoutMs: 0 });
  }

  it("one store read per answer, the owner's visibility checked on it", async () => {
    const c = await pending("alice");
    reads = 0;
    const user = s.as({ name: "alice", role: "user", owner: "alice" });
    const res = await user.resolveConfirmation({ confirmationId: c.id, action: "replace" });
    assert.equal(res.confirmation?.id, c.id);
    assert.equal(reads, 1, "store.getConfirmation calls for one ResolveConfirmation");
  });

  it("another owner's confirmation looks NOT_FOUND and stays pending", async () => {
    const c = await pending("bob");
    const err = await errorOf(s.as({ name: "alice", role: "user", owner: "alice" }).resolveConfirmation({ confirmationId: c.id, action: "replace" }));
    assert.equal(err.reason, "CONFIRMATION_NOT_FOUND");
    assert.equal((await s.store.getConfirmation(c.id))?.state, "pending");
  });
});

describe("confirmation expiry", () => {
  let db: OpenDatabase;
  let store: SqlTaskStore;
  let manager: TaskManager | undefined;
  before(async () => {
    db = await openDatabase({ db: ":memory:", durability: "normal" });
    store = createSqlTaskStore(db, { clock: () => Date.now() });
    await store.open();
  });
  afterEach(() => manager?.close());
  after(() => db.close());

  it("logs an expiry the store refused instead of swallowing it", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const errors: { err: unknown; confirmationId: string }[] = [];
    let refuse = false;
    const failing: TaskStore = Object.create(store) as TaskStore;
    failing.mutate = (m) => (refuse ? Promise.reject(new Error("disk gone")) : store.mutate(m));
    const m = createTaskManager({
      store: failing,
      live: createEventHub(),
      clock: () => Date.now(),
      onError: (err, context) => errors.push({ err, confirmationId: context.confirmationId }),
    });
    manager = m;
    store.onCommit((events) => m.onEvents(events));
    m.open();
    const task = await m.createTask({ owner: "o", kind: "k", label: "", checkpoint: null, requestId: "" });
    const c = await m.requestConfirmation({ taskId: task.id, title: "t", components: SURFACE, requestId: "", timeoutMs: 1000 });
    refuse = true;
    t.mock.timers.tick(1000);
    // The expiry reads the row, then its mutation is refused: a few turns of the loop.
    for (let i = 0; i < 20 && errors.length === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(errors.length, 1, "expiry errors reported");
    assert.equal((errors[0]!.err as Error).message, "disk gone");
    assert.equal(errors[0]!.confirmationId, c.id);
  });
});
