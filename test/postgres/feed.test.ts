import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { Component, Confirmation, SequencedEvent } from "../../src/domain/model.js";
import type { TaskStore } from "../../src/domain/ports.js";
import { createTaskManager, type TaskManager } from "../../src/domain/task-manager.js";
import { createCommitPipeline } from "../../src/events/commit-pipeline.js";
import { createEventHub, type EventHub } from "../../src/events/hub.js";
import { watchTasks } from "../../src/events/watch.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createPgFeed, type PgFeed } from "../../src/store/pg-feed.js";
import { checkNotifyRoundTrip, NotifyRoundTripError, startPgListener } from "../../src/store/pg-listener.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { createTestDatabase, probePostgres, type TestDatabase } from "../support/pg.js";

/**
 * The ordered feed and the listener against a real PostgreSQL, in one process: two
 * "replicas" (store + feed + task manager each) on one database, driven by hand so that
 * interleavings are certain rather than likely.
 */

const probe = await probePostgres();

interface Replica {
  db: OpenDatabase;
  store: SqlTaskStore;
  feed: PgFeed;
  manager: TaskManager;
  hub: EventHub;
  /** Every persisted event this replica published, in order. */
  published: SequencedEvent[];
  /** Mutations the manager asked for, by the confirmation they name (expiry attempts). */
  confirmationMutations: Map<string, number>;
  /** Those mutations themselves, to wait until they have settled. */
  attempts: Map<string, Promise<unknown>[]>;
  gaps: string[];
}

async function startReplica(url: string, catchUpMs = 0): Promise<Replica> {
  const db = await openDatabase({ db: url, durability: "normal" });
  const store = createSqlTaskStore(db, { publication: "feed" });
  await store.open();
  const published: SequencedEvent[] = [];
  const gaps: string[] = [];
  const confirmationMutations = new Map<string, number>();
  const attempts = new Map<string, Promise<unknown>[]>();
  store.onCommit((events) => published.push(...events));
  const feed = createPgFeed({ store, catchUpMs, onError: (err, what) => what === "gap" && gaps.push((err as Error).message) });
  // Counts what the manager asks for; the store behind it is the real one.
  const counting: TaskStore = Object.create(store) as TaskStore;
  counting.mutate = (m) => {
    const p = store.mutate(m);
    for (const id of m.keys.confirmations ?? []) {
      confirmationMutations.set(id, (confirmationMutations.get(id) ?? 0) + 1);
      attempts.set(id, [...(attempts.get(id) ?? []), p]);
    }
    return p;
  };
  const hub = createEventHub();
  const manager = createTaskManager({ store: counting, live: hub });
  store.onCommit(createCommitPipeline({ manager, hub }));
  manager.open();
  return { db, store, feed, manager, hub, published, confirmationMutations, attempts, gaps };
}

async function stopReplica(r: Replica): Promise<void> {
  r.manager.drain();
  await r.store.flush();
  await r.feed.close();
  r.manager.close();
  await r.db.close();
}

const newTask = (m: TaskManager, owner = "o") => m.createTask({ owner, kind: "k", label: "l", checkpoint: null, requestId: "" });

describe("the ordered feed on PostgreSQL", { skip: probe.ok ? false : probe.reason }, () => {
  let database: TestDatabase;
  let a: Replica;
  let b: Replica;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  describe("two replicas fed by hand", () => {
    before(async () => {
      a = await startReplica(database.url);
      b = await startReplica(database.url);
    });
    after(async () => {
      await stopReplica(a);
      await stopReplica(b);
    });

    it("does not let a local commit overtake another replica's earlier sequence", async () => {
      const first = await newTask(a.manager);
      assert.equal(a.store.lastSequence(), 1);
      assert.equal(b.store.lastSequence(), 0, "b has heard of nothing yet");
      const second = await newTask(b.manager);
      // b committed sequence 2; publishing it at once would skip sequence 1 for good.
      assert.deepEqual(b.published.map((e) => e.sequence), [1, 2]);
      assert.equal(b.published[0]!.taskId, first.id);
      assert.equal(b.published[1]!.taskId, second.id);
      assert.deepEqual(b.store.peekTask(first.id), first, "b's cache took a's row with a's event");
      assert.equal(b.store.activeTasks({}).length, 2);
      await a.feed.catchUp();
      assert.deepEqual(a.published.map((e) => e.sequence), [1, 2]);
      assert.deepEqual(a.store.peekTask(second.id), second);
    });

    it("publishes both replicas' concurrent commits contiguously, in sequence order, on each", async () => {
      const tasks = await Promise.all([...Array.from({ length: 10 }, () => newTask(a.manager)), ...Array.from({ length: 10 }, () => newTask(b.manager))]);
      await Promise.all(
        Array.from({ length: 400 }, (_, i) => {
          const m = i % 2 === 0 ? a.manager : b.manager;
          return m.updateProgress({ taskId: tasks[(i * 7) % tasks.length]!.id, progress: i / 400, label: `step ${i}` });
        }),
      );
      await Promise.all([a.feed.catchUp(), b.feed.catchUp()]);
      const log = await a.store.readEvents(0, 100_000);
      const last = log[log.length - 1]!.sequence;
      assert.deepEqual(log.map((e) => e.sequence), Array.from({ length: last }, (_, i) => i + 1), "the log is gap-free");
      for (const r of [a, b]) {
        assert.deepEqual(r.published.map((e) => e.sequence), log.map((e) => e.sequence));
        assert.deepEqual(r.published.map((e) => e.event), log.map((e) => e.event));
        assert.equal(r.store.lastSequence(), last);
      }
      // Every row a replica caches is the committed one, whoever wrote it.
      for (const t of tasks) {
        const row = await database.query<{ revision: number; progress: number; label: string }>(
          "select revision, progress, label from tasks where id = $1",
          [t.id],
        );
        for (const r of [a, b]) {
          const cached = r.store.peekTask(t.id)!;
          assert.deepEqual([cached.revision, cached.progress, cached.label], [row[0]!.revision, row[0]!.progress, row[0]!.label]);
        }
      }
    });

    it("wakes a worker held on one replica with the answer committed on the other", async () => {
      const task = await newTask(a.manager, "held");
      const pending = await a.manager.requestConfirmation({
        taskId: task.id,
        title: "Replace?",
        components: SURFACE,
        requestId: "",
        timeoutMs: 0,
      });
      const abort = new AbortController();
      const waiting = a.manager.waitFor(pending, abort.signal);
      await b.manager.resolveConfirmation({ confirmationId: pending.id, action: "system.task.confirm_replace", values: {}, answerer: { name: "ops", role: "admin" } });
      await a.feed.catchUp();
      const answer = (await waiting) as Confirmation;
      assert.deepEqual([answer.state, answer.action], ["answered", "system.task.confirm_replace"]);
      assert.equal(a.store.peekTask(task.id)!.status, "running");
    });

    it("expires a confirmation once although both replicas try", async () => {
      const n = 12;
      const tasks = await Promise.all(Array.from({ length: n }, () => newTask(a.manager, "expiry")));
      const pending = await Promise.all(
        tasks.map((t) =>
          a.manager.requestConfirmation({
            taskId: t.id,
            title: "Soon gone",
            components: SURFACE,
            requestId: "",
            timeoutMs: 400,
          }),
        ),
      );
      // b learns of them (and schedules their expiry); after this neither hears of the other
      // until it reads the log for its own commit: both caches still say PENDING at expiry.
      await b.feed.catchUp();
      assert.equal(b.store.pendingConfirmations().filter((c) => c.owner === "expiry").length, n);
      const held = pending.map((c) => a.manager.waitFor(c, new AbortController().signal));
      // Both timers fire at the 400 ms deadline; wait for both attempts rather than a fixed time.
      const tried = (r: Replica) => pending.every((c) => (r.confirmationMutations.get(c.id) ?? 0) >= 1);
      const deadline = Date.now() + 5000;
      while (!(tried(a) && tried(b)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Both attempts committed (or refused) before the log is read.
      await Promise.allSettled(pending.flatMap((c) => [a, b].flatMap((r) => r.attempts.get(c.id) ?? [])));
      // A replica whose attempt lost learns the winner's expiry only from the log: its held
      // calls are woken by this catch-up, not before it.
      await Promise.all([a.feed.catchUp(), b.feed.catchUp()]);
      for (const c of pending) {
        assert.equal(a.confirmationMutations.get(c.id), 1, "a tried to expire it");
        assert.equal(b.confirmationMutations.get(c.id), 1, "b tried to expire it");
      }
      const log = await a.store.readEvents(0, 100_000);
      const ids = new Set(pending.map((c) => c.id));
      const resolved = log.filter((e) => e.event.type === "confirmation_resolved" && ids.has(e.event.confirmation.id));
      assert.equal(resolved.length, n, "one confirmation_resolved per confirmation, not two");
      assert.ok(resolved.every((e) => e.event.type === "confirmation_resolved" && e.event.confirmation.state === "expired"));
      const statusChanges = log.filter((e) => e.event.type === "status_changed" && tasks.some((t) => t.id === e.taskId) && e.event.task.status === "running");
      assert.equal(statusChanges.length, n, "each task went back to running once");
      for (const w of await Promise.all(held)) assert.equal(w?.state, "expired");
      for (const c of pending) {
        assert.equal(b.store.peekTask(c.taskId)!.status, "running");
        assert.equal((await b.store.getConfirmation(c.id))!.state, "expired");
      }
    });

    it("resumes a watch on a replica whose feed is behind the sequence the client saw elsewhere", async () => {
      const task = await newTask(a.manager, "resume");
      await b.feed.catchUp();
      const from = b.store.lastSequence();
      for (let i = 1; i <= 3; i++) await a.manager.updateProgress({ taskId: task.id, progress: i / 10 });
      const seenOnA = a.store.lastSequence();
      assert.ok(b.store.lastSequence() < seenOnA, "b has not published a's updates yet");
      // The client saw seenOnA - 1 on a and reconnects to b, which is behind.
      const abort = new AbortController();
      const items = watchTasks({ hub: b.hub, store: b.store }, { includeSnapshot: false, afterSequence: seenOnA - 1 }, abort.signal, { bookmarkMs: 50 });
      const got: number[] = [];
      for await (const item of items) {
        if (item.kind === "event") got.push(item.event.sequence);
        if (item.kind === "bookmark" || got.length >= 1) break;
      }
      abort.abort();
      assert.deepEqual(got, [seenOnA], "replayed from the shared log, not refused as ahead of it");
      assert.ok(from < seenOnA);
    });

    it("reloads everything when the log was trimmed past what a replica published", async () => {
      const task = await newTask(a.manager, "trim");
      await b.feed.catchUp();
      for (let i = 1; i <= 5; i++) await a.manager.updateProgress({ taskId: task.id, progress: i / 10 });
      const lastA = a.store.lastSequence();
      // Retention (on a) removes what b has not read yet.
      await database.query("delete from events where sequence < $1", [lastA]);
      await b.feed.catchUp();
      assert.equal(b.gaps.length, 1, "the gap is reported");
      assert.equal(b.store.lastSequence(), lastA);
      assert.equal(b.store.peekTask(task.id)!.progress, 0.5, "the row skipped with the trimmed events was reloaded");
    });
  });

  describe("the listener", () => {
    it("refuses to start replication when a NOTIFY never comes back", async () => {
      const elsewhere = await createTestDatabase();
      const listener = await startPgListener({ url: database.url, channels: ["selftest"], applicationName: "taskcontrol-test-selftest" });
      const sender = new pg.Client({ connectionString: elsewhere.url });
      await sender.connect();
      try {
        // Notifications stay within a database: a sender on another one stands for a proxy
        // that accepted LISTEN on a connection it then gave to someone else.
        await assert.rejects(
          checkNotifyRoundTrip(listener, async (ch, p) => void (await sender.query("select pg_notify($1, $2)", [ch, p])), {
            channel: "selftest",
            timeoutMs: 500,
          }),
          (err: Error) => err instanceof NotifyRoundTripError && /self-test failed.*transaction-pooling proxy/s.test(err.message),
        );
        await checkNotifyRoundTrip(listener, async (ch, p) => void (await database.query("select pg_notify($1, $2)", [ch, p])), {
          channel: "selftest",
          timeoutMs: 2000,
        });
      } finally {
        await sender.end();
        await listener.close();
        await elsewhere.drop();
      }
    });

    it("reconnects and LISTENs again after pg_terminate_backend", async () => {
      const name = `taskcontrol-test-reconnect-${process.pid}`;
      const listener = await startPgListener({ url: database.url, channels: ["ping"], applicationName: name, reconnectMinMs: 50 });
      const heard: string[] = [];
      let reconnects = 0;
      listener.onNotification((_, p) => heard.push(p));
      listener.onReconnect(() => reconnects++);
      try {
        const [{ n }] = await database.query<{ n: string }>(
          "select count(pg_terminate_backend(pid)) as n from pg_stat_activity where application_name = $1",
          [name],
        );
        assert.equal(Number(n), 1);
        const deadline = Date.now() + 5000;
        while (reconnects === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(reconnects, 1);
        assert.ok(listener.connected);
        await database.query("select pg_notify('ping', 'after')");
        while (!heard.includes("after") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(heard, ["after"]);
      } finally {
        await listener.close();
      }
    });
  });
});

/** The reference page's surface in the domain's shape (flows.ts has it in the protobuf shape). */
const SURFACE: Component[] = [
  { id: "confirm_text", kind: "text", text: "A model with the same name already exists. Replace it?" },
  { id: "confirm_replace", kind: "button", label: "Replace", action: "system.task.confirm_replace", style: "unspecified", value: null },
  { id: "confirm_cancel", kind: "button", label: "Cancel", action: "system.task.confirm_cancel", style: "unspecified", value: null },
];
