import assert from "node:assert/strict";
import { confirmationFixture } from "../support/fixtures.js";
import { describe, it } from "node:test";
import type { Confirmation, SequencedEvent } from "../../src/domain/model.js";
import type { TaskStore } from "../../src/domain/ports.js";
import { createTaskManager } from "../../src/domain/task-manager.js";
import { COMMIT_ORDER, createCommitPipeline } from "../../src/events/commit-pipeline.js";
import { createEventHub } from "../../src/events/hub.js";
import { createLiveRelay, encodeLiveLines } from "../../src/replication/live-relay.js";

const persisted = (sequence: number): SequencedEvent => ({
  sequence,
  time: 0,
  taskId: "t",
  owner: "o",
  event: { type: "progress", taskId: "t", owner: "o", progress: 0.5, label: `p${sequence}`, checkpoint: null, persisted: true },
});
const describeEvent = (e: SequencedEvent | "idle") =>
  e === "idle" ? "idle" : e.event.type === "progress" ? `${e.event.persisted ? "persisted" : "live"} ${e.event.label}` : e.event.type;

describe("commit pipeline", () => {
  it("runs the manager, then the hub, then the relay, whatever order they are given in", () => {
    const order: string[] = [];
    const publish = createCommitPipeline({
      relay: { published: () => order.push("relay") },
      hub: { publish: () => order.push("hub") },
      manager: { onEvents: () => order.push("manager") },
    });
    publish([persisted(1)]);
    assert.deepEqual(order, ["manager", "hub", "relay"]);
    assert.deepEqual(order, [...COMMIT_ORDER]);
  });

  it("a live line another replica sent right after a commit reaches the watcher after the commit's event", async () => {
    let last = 4;
    const hub = createEventHub();
    const relay = createLiveRelay({
      replicaId: "here",
      send: async () => {},
      deliver: (events) => hub.publish(events),
      lastSequence: () => last,
      want: () => {},
      holdMs: 60_000,
    });
    const publish = createCommitPipeline({ manager: { onEvents: () => {} }, hub, relay });
    const sub = hub.subscribe({ owner: "o" });
    try {
      // The other replica emitted after its commit 5, which this replica has not published yet.
      const [payload] = encodeLiveLines("there", 5, [{ taskId: "t", owner: "o", progress: 0.6, label: "line", checkpoint: null, time: 0 }]);
      relay.receive(payload!);
      last = 5; // the store took commit 5 (cache and lastSequence), then runs the pipeline
      publish([persisted(5)]);
      const got = [describeEvent(await sub.next(1000)), describeEvent(await sub.next(1000))];
      assert.deepEqual(got, ["persisted p5", "live line"]);
    } finally {
      sub.close();
      relay.close();
    }
  });

  it("wakes the held confirmation call before the hub's subscribers see the answer", async () => {
    const pending = confirmationFixture({ title: "t" });
    const store = { getConfirmation: async () => pending, peekTask: () => undefined } as unknown as TaskStore;
    const hub = createEventHub();
    const manager = createTaskManager({ store, live: hub });
    const publish = createCommitPipeline({ manager, hub });
    const sub = hub.subscribe({ owner: "o" });
    const order: string[] = [];
    const held = manager.waitFor(pending, new AbortController().signal).then((c) => order.push(`worker ${c?.state}`));
    const watched = sub.next(1000).then((e) => order.push(`watcher ${describeEvent(e)}`));
    await new Promise((r) => setImmediate(r)); // the wait's re-read of the row has settled
    const answered: Confirmation = { ...pending, state: "answered", action: "ok", resolveTime: 1 };
    publish([{ sequence: 1, time: 1, taskId: "t", owner: "o", event: { type: "confirmation_resolved", confirmation: answered } }]);
    await Promise.all([held, watched]);
    sub.close();
    manager.close();
    assert.deepEqual(order, ["worker answered", "watcher confirmation_resolved"]);
  });
});
