import assert from "node:assert/strict";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import type { Component, Task } from "../../src/domain/model.js";
import type { Timers } from "../../src/domain/ports.js";
import { LAPSE_SLACK_MS } from "../../src/domain/leases.js";
import { createTaskManager, type TaskManager } from "../../src/domain/task-manager.js";
import { createCommitPipeline } from "../../src/events/commit-pipeline.js";
import { createEventHub } from "../../src/events/hub.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { domainComponent } from "../support/fixtures.js";
import { trackLeaks } from "../support/leaks.js";

/**
 * The lease module (src/domain/leases.ts, run by the task manager) on hand-driven timers and
 * clock: what a call costs (no timer work, no row write), when the lapse comes, and that the
 * lapse re-checks the committed row.
 */

const SURFACE: Component[] = [domainComponent.button("ok", { label: "OK", action: "ok", style: "primary" })];
const leaks = trackLeaks();
after(() => leaks.check());

/** Timers and a clock moved by hand; counts every setTimeout. */
function manualTime(start = 1_000_000) {
  let now = start;
  let armed = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  const timers: Timers = {
    setTimeout(fn, ms) {
      armed++;
      const id = next++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    clock: () => now,
    get armed() {
      return armed;
    },
    /** Moves the clock, firing every timer that falls due on the way, in order. */
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
    },
  };
}

describe("leases on manual timers", () => {
  let db: OpenDatabase;
  let store: SqlTaskStore;
  let manager: TaskManager;
  let time: ReturnType<typeof manualTime>;

  beforeEach(async () => {
    time = manualTime();
    db = await openDatabase({ db: ":memory:", durability: "normal" });
    store = createSqlTaskStore(db, { clock: time.clock });
    await store.open();
    const hub = createEventHub();
    manager = createTaskManager({ store, live: hub, clock: time.clock, timers: time.timers });
    store.onCommit(createCommitPipeline({ manager, hub }));
    manager.open();
  });
  afterEach(async () => {
    manager.drain();
    await store.flush();
    manager.close();
    await db.close();
  });

  /**
   * Resolves once what a fired timer submitted has committed and its follow-up (re-arming)
   * ran: a few commits of the one writer, in order.
   */
  const settle = async () => {
    for (let i = 0; i < 3; i++) await store.mutate({ keys: {}, apply: () => undefined });
  };
  const leased = (ms = 10_000) => manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "", leaseDurationMs: ms });
  const status = async (id: string) => (await store.getTask(id))!.status;

  it("a call moves the lease without arming a timer or writing the row", async () => {
    const task = await leased();
    const armed = time.armed;
    const revision = (await store.getTask(task.id))!.revision;
    for (let i = 0; i < 1000; i++) await manager.heartbeat({ taskId: task.id, attempt: 1 });
    assert.equal(time.armed, armed, "no timer work per call");
    await settle();
    assert.equal((await store.getTask(task.id))!.revision, revision, "no row write per call");
  });

  it("lapses at the last call + the lease (+ slack), not before; renews the persisted expiry at most about once per lease", async () => {
    const task = await leased();
    const revision = (await store.getTask(task.id))!.revision;
    for (let i = 0; i < 30; i++) {
      time.advance(1_000);
      await manager.heartbeat({ taskId: task.id, attempt: 1 });
      await settle();
    }
    assert.equal(await status(task.id), "running");
    const renewals = (await store.getTask(task.id))!.revision - revision;
    assert.ok(renewals >= 2 && renewals <= 4, `${renewals} renewals in 30 s of a 10 s lease`);
    time.advance(10_000 + LAPSE_SLACK_MS - 1);
    await settle();
    assert.equal(await status(task.id), "running", "1 ms early");
    time.advance(1);
    await settle();
    const stalled = (await store.getTask(task.id))!;
    assert.deepEqual([stalled.status, stalled.stallTime], ["stalled", time.clock()]);
    assert.equal(manager.leaseCounts().expired, 1);
  });

  it("the lapse re-checks the committed row: a renewal committed elsewhere wins", async () => {
    const task = await leased();
    // Another replica saw the worker and renewed the persisted expiry by 5 s.
    await store.mutate({
      keys: { tasks: [task.id] },
      apply(w) {
        const t = w.task(task.id)!;
        w.putTask({ ...t, leaseExpireTime: t.leaseExpireTime! + 5_000, revision: t.revision + 1 });
      },
    });
    time.advance(10_000 + LAPSE_SLACK_MS);
    await settle();
    assert.equal(await status(task.id), "running");
    time.advance(5_000);
    await settle();
    assert.equal(await status(task.id), "stalled");
  });

  it("a held confirmation call keeps the lease; after the drop it runs from the drop", async () => {
    const task = await leased();
    const c = await manager.requestConfirmation({ taskId: task.id, title: "t", components: SURFACE, requestId: "r", timeoutMs: 0 });
    const drop = new AbortController();
    const held = manager.waitFor(c, drop.signal);
    for (let i = 0; i < 6; i++) {
      time.advance(10_000);
      await settle();
    }
    assert.equal(await status(task.id), "waiting_confirmation");
    drop.abort();
    assert.equal(await held, null);
    time.advance(10_000 + LAPSE_SLACK_MS - 1);
    await settle();
    assert.equal(await status(task.id), "waiting_confirmation");
    time.advance(1);
    await settle();
    assert.equal(await status(task.id), "stalled");
  });

  it("a task without a lease has no timer and never stalls", async () => {
    const armed = time.armed;
    const task: Task = await manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: "" });
    await manager.heartbeat({ taskId: task.id, attempt: 0 });
    time.advance(100 * 24 * 3600 * 1000);
    await settle();
    assert.equal(time.armed, armed);
    assert.equal(await status(task.id), "running");
  });
});
