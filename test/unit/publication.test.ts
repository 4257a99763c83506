import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SequencedEvent } from "../../src/domain/model.js";
import { type CommittedChanges, directPublication, feedPublication } from "../../src/store/publication.js";

const event = (sequence: number): SequencedEvent => ({
  sequence,
  time: 0,
  taskId: "t",
  owner: "o",
  event: { type: "progress", taskId: "t", owner: "o", progress: 0, label: "", checkpoint: null, persisted: true },
});
const withEvents: CommittedChanges = { events: [event(1), event(2)], tasks: [], confirmations: [] };
const withoutEvents: CommittedChanges = { events: [], tasks: [], confirmations: [] };

describe("publication strategy", () => {
  it("direct: publishes each commit at once, in the batch, and says the process publishes its own commits", () => {
    const published: CommittedChanges[] = [];
    const p = directPublication((c) => void published.push(c));
    assert.equal(p.publishesOwnCommits, true);
    p.onLocalCommit(async () => assert.fail("direct publication never hands a commit over"));
    const r = p.committed(withEvents);
    assert.equal(r, undefined, "synchronous: callers are answered right after");
    p.committed(withoutEvents);
    assert.deepEqual(published, [withEvents, withoutEvents]);
  });

  it("feed: hands commits with events to the handler and answers callers when it settles", async () => {
    const published: CommittedChanges[] = [];
    const handed: CommittedChanges[] = [];
    const p = feedPublication((c) => void published.push(c));
    assert.equal(p.publishesOwnCommits, false);
    let settle!: () => void;
    p.onLocalCommit((c) => {
      handed.push(c);
      return new Promise<void>((r) => (settle = r));
    });
    const pending = p.committed(withEvents);
    assert.ok(pending instanceof Promise);
    let done = false;
    void pending.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, "not answered before the feed published it");
    settle();
    await pending;
    assert.deepEqual(handed, [withEvents]);
    assert.deepEqual(published, [], "the feed publishes, not the batch");
  });

  it("feed: a commit without events goes straight to the cache, and one with events needs a handler", () => {
    const published: CommittedChanges[] = [];
    const p = feedPublication((c) => void published.push(c));
    p.committed(withoutEvents);
    assert.deepEqual(published, [withoutEvents]);
    assert.throws(() => p.committed(withEvents), /without an onLocalCommit handler/);
  });
});
