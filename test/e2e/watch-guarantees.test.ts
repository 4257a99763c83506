import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createTask, watch } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";

/** Bookmarks on idle streams, and OUT_OF_RANGE when a resume point left the retained log. */

const leaks = trackLeaks();
let t: TestApp;
before(async () => {
  t = await startTestApp({
    args: ["--bookmark-interval-ms", "100", "--event-retention-count", "5", "--event-retention-interval-ms", "50"],
  });
});
after(async () => {
  await t.close();
  await leaks.check();
});

describe("WatchTasks guarantees", () => {
  it("sends bookmarks carrying the latest sequence on an idle stream", async () => {
    const task = await createTask(t.grpc, "idle");
    await t.grpc.unary("UpdateProgress", { taskId: task.id, progress: 0.5 });
    const w = watch(t.grpc, { owner: "someone-quiet" });
    await w.until((e) => e.filter((x) => x.event.case === "bookmark").length >= 2, 3000);
    const b = w.events.filter((x) => x.event.case === "bookmark");
    assert.ok(b.every((x) => x.sequence >= 2n), "bookmarks carry the latest sequence, even of other owners' events");
    w.cancel();
  });

  it("refuses a resume point older than the retained log with OUT_OF_RANGE naming the oldest sequence", async () => {
    const task = await createTask(t.grpc, "retained");
    for (let i = 0; i < 20; i++) await t.grpc.unary("UpdateProgress", { taskId: task.id, progress: i / 20 });
    await new Promise((r) => setTimeout(r, 300)); // a few trims
    const w = watch(t.grpc, { owner: "retained", afterSequence: 1n });
    await w.done;
    const err = w.error as { code: number; details: string; metadata: { get(k: string): unknown[] } };
    assert.equal(err.code, status.OUT_OF_RANGE);
    const oldest = Number(/oldest retained sequence (\d+)/.exec(err.details)?.[1]);
    assert.ok(oldest > 2, err.details);
    assert.deepEqual(err.metadata.get("taskcontrol-oldest-sequence"), [String(oldest)]);
    // From the oldest retained point on, the replay works.
    const ok = watch(t.grpc, { owner: "retained", afterSequence: BigInt(oldest - 1) });
    await ok.until((e) => e.length >= 3);
    assert.equal(ok.events[0]!.sequence, BigInt(oldest));
    ok.cancel();
  });
});
