import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createTaskManager } from "../../src/domain/task-manager.js";
import { createEventHub } from "../../src/events/hub.js";
import { openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore } from "../../src/store/sql-task-store.js";
import { domainComponent } from "../support/fixtures.js";

/**
 * A batch whose mutations carry many confirmation request ids (RequestConfirmation with a
 * request_id, as workers send it) reads them back in one go. As one OR of (task_id, request_id)
 * pairs, SQLite refused a thousand or more ("Expression tree is too large (maximum depth 1000)")
 * and the whole batch failed UNAVAILABLE (seen: 10,000 held confirmations opened 500 at a time).
 */

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-confirmation-requests-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("confirmation request ids in one batch", () => {
  it("commits 1,500 RequestConfirmation calls with request ids submitted together, and re-attaches each", async () => {
    const db = await openDatabase({ db: join(dir, "c.sqlite"), durability: "normal" });
    const store = createSqlTaskStore(db);
    await store.open();
    const manager = createTaskManager({ store, live: createEventHub() });
    manager.open();
    try {
      const tasks = await Promise.all(
        Array.from({ length: 1500 }, (_, i) => manager.createTask({ owner: "o", kind: "", label: "", checkpoint: null, requestId: `create-${i}` })),
      );
      const request = (taskId: string, i: number) =>
        manager.requestConfirmation({ taskId, title: "hold", components: [domainComponent.button("ok")], requestId: `req-${i}`, timeoutMs: 0 });
      // Submitted in the same turn of the event loop: one batch (at most 2,000 mutations).
      const first = await Promise.all(tasks.map((t, i) => request(t.id, i)));
      assert.equal(new Set(first.map((c) => c.id)).size, 1500);
      const again = await Promise.all(tasks.map((t, i) => request(t.id, i)));
      assert.deepEqual(
        again.map((c) => c.id),
        first.map((c) => c.id),
        "the same request id re-attaches to the same confirmation",
      );
    } finally {
      manager.close();
      await db.close();
    }
  });
});
