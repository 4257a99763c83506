import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SequencedEvent } from "../../src/domain/model.js";
import { createEventHub } from "../../src/events/hub.js";

const live = (taskId: string, label: string, owner = "o"): SequencedEvent => ({
  sequence: 0,
  time: 0,
  taskId,
  owner,
  event: { type: "progress", taskId, owner, progress: 0, label, checkpoint: null, persisted: false },
});
const persisted = (sequence: number, taskId = "t", owner = "o"): SequencedEvent => ({
  sequence,
  time: 0,
  taskId,
  owner,
  event: { type: "progress", taskId, owner, progress: 0, label: `p${sequence}`, checkpoint: null, persisted: true },
});
const label = (e: SequencedEvent | "idle") => (e === "idle" ? "idle" : e.event.type === "progress" ? e.event.label : e.event.type);

describe("event hub", () => {
  it("coalesces queued live lines per task (latest wins, first place) and keeps every persisted event", async () => {
    const hub = createEventHub({ maxQueue: 10 });
    const sub = hub.subscribe({ owner: "o" });
    hub.publish([live("a", "a1"), persisted(1), live("a", "a2"), live("b", "b1"), live("a", "a3"), persisted(2), live("b", "b2")]);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(label(await sub.next(10)));
    assert.deepEqual(got, ["a3", "p1", "b2", "p2"]);
    assert.equal(await sub.next(5), "idle");
    sub.close();
  });

  it("ends a subscriber whose persisted backlog passes the bound, naming the last sequence delivered", async () => {
    const hub = createEventHub({ maxQueue: 3 });
    const slow = hub.subscribe({});
    const fast = hub.subscribe({});
    hub.publish([persisted(1)]);
    assert.equal(label(await slow.next(10)), "p1");
    assert.equal(label(await fast.next(10)), "p1");
    for (const n of [2, 3, 4, 5]) {
      hub.publish([persisted(n)]);
      assert.equal(label(await fast.next(10)), `p${n}`, "a subscriber that keeps up is unaffected");
    }
    await assert.rejects(slow.next(10), /resume with after_sequence=1/);
    assert.equal(hub.subscriberCount(), 1, "the overflowed subscriber is detached at once");
  });

  it("delivers only matching owners and task ids, and forgets closed subscribers", async () => {
    const hub = createEventHub();
    const alice = hub.subscribe({ owner: "alice" });
    const one = hub.subscribe({ owner: "alice", taskIds: new Set(["t2"]) });
    hub.publish([persisted(1, "t1", "alice"), persisted(2, "t2", "alice"), persisted(3, "t3", "bob")]);
    assert.deepEqual([label(await alice.next(5)), label(await alice.next(5)), label(await alice.next(5))], ["p1", "p2", "idle"]);
    assert.deepEqual([label(await one.next(5)), label(await one.next(5))], ["p2", "idle"]);
    alice.close();
    one.close();
    assert.equal(hub.subscriberCount(), 0);
  });

  it("offers an event to many subscribers in chunks that yield, keeping each subscriber's order", async () => {
    const hub = createEventHub({ chunk: 64 });
    const subs = Array.from({ length: 200 }, () => hub.subscribe({ owner: "o" }));
    hub.publish([persisted(1)]);
    hub.publish([persisted(2)]);
    const first: string[] = subs.map(() => "pending");
    subs.forEach((sub, i) => void sub.next(1000).then((e) => (first[i] = label(e))));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(first.filter((x) => x !== "pending").length, 64, "only the first chunk before the loop turns");
    // A few turns of the loop (a fixed timeout can fire before them on a loaded machine).
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.ok(first.every((x) => x === "p1"), "then every subscriber, p1 first");
    for (const sub of subs) assert.equal(label(await sub.next(0)), "p2");
  });

  it("gets a quiet owner's event to its subscriber within a few turns of another owner's flood", async () => {
    const hub = createEventHub({ chunk: 64 });
    const flood = Array.from({ length: 200 }, () => hub.subscribe({ owner: "flooder" }));
    const carol = hub.subscribe({ owner: "carol" });
    hub.publish(Array.from({ length: 1000 }, (_, i) => persisted(i + 1, "f", "flooder")));
    hub.publish([persisted(1001, "c", "carol")]);
    let turns = 0;
    let got: string | undefined;
    void carol.next(60_000).then((e) => (got = label(e)));
    while (got === undefined && turns < 10_000) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    assert.equal(got, "p1001");
    assert.ok(turns <= 8, `carol's event took ${turns} turns behind 1,000 events for 200 other subscribers`);
    for (const sub of flood) sub.close();
    carol.close();
  });

  it("holds nothing for a subscriber in a shared backlog: every queue is bounded when publish returns", () => {
    const hub = createEventHub({ maxQueue: 10 });
    const subs = Array.from({ length: 100 }, () => hub.subscribe({ owner: "o" }));
    const failed = new Set<number>();
    subs.forEach((sub, i) => sub.onFailure({ overflowed: () => failed.add(i) }));
    hub.publish(Array.from({ length: 1000 }, (_, i) => persisted(i + 1)));
    assert.equal(failed.size, 100, "every subscriber that cannot take 1,000 events is ended at once, not fed later");
    assert.equal(hub.subscriberCount(), 0);
  });

  it("never reports delivered-through past a queued event, and names what a replay delivered on overflow", async () => {
    const hub = createEventHub({ maxQueue: 2 });
    const sub = hub.subscribe({ owner: "o" });
    hub.publish([persisted(1)]);
    hub.publish([persisted(2, "t", "other")]);
    assert.equal(sub.deliveredThrough(), 0, "event 1 is still queued");
    assert.equal(label(await sub.next(10)), "p1");
    assert.equal(sub.deliveredThrough(), 2, "nothing queued: everything published matched or was not meant for it");
    sub.delivered(7);
    hub.publish([persisted(8), persisted(9), persisted(10)]);
    await assert.rejects(sub.next(10), /resume with after_sequence=7\b/);
  });

  it("while held, lets persisted events pass for the replay and releases only once the replay covered them", async () => {
    const hub = createEventHub({ maxQueue: 2 });
    const sub = hub.subscribe({ owner: "o" }, { hold: true });
    hub.publish([persisted(1), persisted(2), persisted(3), live("a", "a1"), persisted(4)]);
    assert.equal(sub.release(3), false, "event 4 passed by: the replay must read on");
    assert.equal(sub.release(4), true);
    hub.publish([persisted(5)]);
    assert.deepEqual([label(await sub.next(10)), label(await sub.next(10)), label(await sub.next(5))], ["a1", "p5", "idle"]);
    sub.close();
  });

  it("ends a parked reader at once when a batch overflows its queue, never answering idle", async () => {
    const hub = createEventHub({ maxQueue: 3 });
    const sub = hub.subscribe({ owner: "o" });
    const parked = sub.next(60_000);
    hub.publish([persisted(1), persisted(2), persisted(3), persisted(4), persisted(5)]);
    await assert.rejects(parked, /resume with after_sequence=0/);
    assert.equal(sub.deliveredThrough(), 0, "no bookmark past what it never got");
  });
});
