/**
 * The store's commit path without the RPC front, for bench/replicas.ts: 1 or 2 feed-mode
 * stores (each with its feed, as replicas have) in this process on one PostgreSQL.
 */
import { createTaskManager } from "../src/domain/task-manager.js";
import { createCommitPipeline } from "../src/events/commit-pipeline.js";
import { createEventHub } from "../src/events/hub.js";
import { openDatabase } from "../src/store/orm.js";
import { createPgFeed } from "../src/store/pg-feed.js";
import { createSqlTaskStore } from "../src/store/sql-task-store.js";
import { createTestDatabase } from "../test/support/pg.js";
import { nowMs } from "./lib.js";
import { pgCounters } from "./pg-probe.js";

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** The store's commit path without the RPC front: `stores` feed-mode stores on one database. */
export async function commitPath(stores: number, maxBatch: number, { tasks: TASKS, seconds: SECONDS }: { tasks: number; seconds: number }) {
  const database = await createTestDatabase("taskcontrol_bench");
  const replicas = await Promise.all(
    Array.from({ length: stores }, async (_, i) => {
      const db = await openDatabase({ db: database.url, durability: "normal" });
      const store = createSqlTaskStore(db, { publication: "feed", maxBatch, commitNotify: { channel: "bench", origin: `s${i}` } });
      await store.open();
      const feed = createPgFeed({ store });
      const hub = createEventHub();
      const manager = createTaskManager({ store, live: hub });
      store.onCommit(createCommitPipeline({ manager, hub }));
      manager.open();
      return { db, store, feed, manager };
    }),
  );
  try {
    const tasks = await Promise.all(
      Array.from({ length: TASKS }, (_, i) =>
        replicas[i % stores]!.manager.createTask({ owner: "o", kind: "k", label: "", checkpoint: null, requestId: "" }),
      ),
    );
    const before = await pgCounters(database);
    let done = 0;
    const started = nowMs();
    const deadline = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 128 }, async (_, lane) => {
        const { manager } = replicas[lane % stores]!;
        for (let n = 0; nowMs() < deadline; n++) {
          await manager.updateProgress({ taskId: tasks[(lane * 7 + n) % TASKS]!.id, progress: (n % 100) / 100 });
          done++;
        }
      }),
    );
    const elapsed = (nowMs() - started) / 1000;
    const after = await pgCounters(database);
    const writes = after.writes - before.writes;
    return {
      eventsPerSecond: round(done / elapsed, 0),
      writeTxPerSecond: round(writes / elapsed, 0),
      readTxPerSecond: round((after.all - before.all - writes - 1) / elapsed, 0),
    };
  } finally {
    for (const r of replicas) {
      r.manager.drain();
      await r.store.flush();
      await r.feed.close();
      r.manager.close();
      await r.db.close();
    }
    await database.drop();
  }
}
