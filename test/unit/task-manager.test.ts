import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { TaskStore, Timers } from "../../src/domain/ports.js";
import { createTaskManager, type TaskManager } from "../../src/domain/task-manager.js";
import { createCommitPipeline } from "../../src/events/commit-pipeline.js";
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
  { id: "ok", kind: "button", label: "Replace", action: "replace", style: "primary", value: null },
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

/** A clock and timers that move only when told: expiry without waiting on the wall clock. */
function fakeTime(start = 1_700_000_000_000) {
  let now = start;
  let nextId = 0;
  const armed = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    setTimeout(fn, ms) {
      armed.set(++nextId, { at: now + ms, fn });
      return nextId;
    },
    clearTimeout(handle) {
      armed.delete(handle as number);
    },
  };
  /** Fires the timers due by `now` (all of them with `force`, as a timer firing early would). */
  const fire = (force = false) => {
    for (const [id, t] of [...armed].sort((a, b) => a[1].at - b[1].at)) {
      if (force || t.at <= now) {
        armed.delete(id);
        t.fn();
      }
    }
  };
  return {
    clock: () => now,
    timers,
    armed: () => armed.size,
    advance(ms: number) {
      now += ms;
      fire();
    },
    fire,
  };
}

describe("confirmation expiry on an injected clock and timers", () => {
  let db: OpenDatabase;
  let manager: TaskManager;
  let time: ReturnType<typeof fakeTime>;
  afterEach(async () => {
    manager.close();
    await db.close();
  });

  async function start(ids?: () => string) {
    time = fakeTime();
    db = await openDatabase({ db: ":memory:", durability: "normal" });
    const store = createSqlTaskStore(db, { clock: time.clock });
    await store.open();
    const hub = createEventHub();
    manager = createTaskManager({ store, live: hub, clock: time.clock, timers: time.timers, ...(ids ? { ids } : {}) });
    store.onCommit(createCommitPipeline({ manager, hub }));
    manager.open();
    return store;
  }
  const newTask = () => manager.createTask({ owner: "o", kind: "k", label: "", checkpoint: null, requestId: "" });
  const ask = async (timeoutMs: number) => {
    const task = await newTask();
    return manager.requestConfirmation({ taskId: task.id, title: "t", components: SURFACE, requestId: "", timeoutMs });
  };

  it("expires exactly at the timeout: the held call gets EXPIRED, the task runs again", async () => {
    const store = await start();
    const c = await ask(5 * 60_000);
    const held = manager.waitFor(c, new AbortController().signal);
    const barrier = await newTask();
    time.advance(5 * 60_000 - 1);
    // A write queued after anything the advance set off: once it commits, so would an expiry.
    await manager.updateProgress({ taskId: barrier.id, progress: 0.5 });
    assert.equal((await store.getConfirmation(c.id))?.state, "pending", "not expired 1 ms early");
    time.advance(1);
    const ended = await held;
    assert.equal(ended?.state, "expired");
    assert.equal(ended?.resolveTime, c.expireTime);
    assert.equal((await store.getTask(c.taskId))?.status, "running");
    assert.equal(time.armed(), 0, "no timer left");
  });

  it("a timer that fires before the expire time re-arms instead of expiring early", async () => {
    const store = await start();
    const c = await ask(1000);
    time.fire(true); // the clock has not reached expireTime
    assert.equal(time.armed(), 1, "re-armed");
    const barrier = await newTask();
    await manager.updateProgress({ taskId: barrier.id, progress: 0.5 });
    assert.equal((await store.getConfirmation(c.id))?.state, "pending");
  });

  it("an answer clears the timer; close() clears the rest", async () => {
    await start();
    const answered = await ask(1000);
    await ask(1000);
    assert.equal(time.armed(), 2);
    await manager.resolveConfirmation({ confirmationId: answered.id, action: "replace", values: {}, answerer: { name: "ops", role: "admin" } });
    assert.equal(time.armed(), 1);
    manager.close();
    assert.equal(time.armed(), 0);
  });

  it("takes task and confirmation ids from the injected source", async () => {
    let n = 0;
    await start(() => `id${++n}`);
    const c = await ask(0);
    assert.deepEqual([c.taskId, c.id], ["t-id1", "c-id2"]);
  });
});
