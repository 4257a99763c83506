import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UnavailableError } from "../../src/domain/errors.js";
import type { SequencedEvent } from "../../src/domain/model.js";
import type { Mutation, Working } from "../../src/domain/ports.js";
import { type ApplyResult, type BatchOutcome, type BatchWriterOptions, createBatchWriter } from "../../src/store/batch-writer.js";

/** A mutation that answers its name (or throws `fail`); the fake attempt applies it. */
const op = (name: string, fail?: Error): Mutation<string> => ({
  keys: {},
  apply: () => {
    if (fail) throw fail;
    return name;
  },
});
const event = (sequence: number): SequencedEvent => ({
  sequence,
  time: 0,
  taskId: "t",
  owner: "o",
  event: { type: "progress", taskId: "t", owner: "o", progress: 0, label: String(sequence), checkpoint: null, persisted: true },
});

class Conflict extends Error {}

/**
 * A fake store behind the writer: every successful mutation makes one event with the next
 * sequence; `script` says what attempt n does ("conflict", "fail" or commit).
 */
function harness(script: ("conflict" | "fail" | "ok")[] = [], extra: Partial<BatchWriterOptions<BatchOutcome>> = {}) {
  let sequence = 0;
  let inFlight = 0;
  const attempts: { names: number; retry: boolean }[] = [];
  const committed: number[][] = [];
  const errors: unknown[] = [];
  const writer = createBatchWriter<BatchOutcome>({
    maxBatch: 3,
    async attempt(batch, retry) {
      assert.equal(inFlight, 0, "one attempt at a time");
      inFlight++;
      try {
        attempts.push({ names: batch.length, retry });
        await new Promise((r) => setImmediate(r));
        const step = script[attempts.length - 1] ?? "ok";
        if (step === "conflict") throw new Conflict("a row changed under the batch");
        if (step === "fail") throw new Error("disk on fire");
        const results: ApplyResult[] = [];
        const events: SequencedEvent[] = [];
        const eventOwners: number[] = [];
        batch.forEach((m, i) => {
          try {
            results.push({ ok: true, value: m.apply({} as Working) });
            events.push(event(++sequence));
            eventOwners.push(i);
          } catch (error) {
            results.push({ ok: false, error });
          }
        });
        return { results, events, eventOwners };
      } finally {
        inFlight--;
      }
    },
    isConflict: (err) => err instanceof Conflict,
    committed: (o) => void committed.push(o.events.map((e) => e.sequence)),
    onError: (err) => void errors.push(err),
    ...extra,
  });
  return { writer, attempts, committed, errors };
}

describe("batch writer", () => {
  it("commits what arrived in one turn as one batch (up to maxBatch), in order, and gives each caller its own events", async () => {
    const { writer, attempts, committed } = harness();
    const calls = ["a", "b", "c", "d", "e"].map((n) => writer.submit(op(n)));
    const done = await Promise.all(calls);
    assert.deepEqual(done.map((d) => d.value), ["a", "b", "c", "d", "e"]);
    assert.deepEqual(done.map((d) => d.events.map((e) => e.sequence)), [[1], [2], [3], [4], [5]]);
    assert.deepEqual(attempts.map((a) => a.names), [3, 2], "maxBatch 3");
    assert.deepEqual(committed, [[1, 2, 3], [4, 5]], "batches commit in the order they were taken");
  });

  it("takes calls that arrive during a commit into the next batch, after the current one", async () => {
    const { writer, committed } = harness();
    const first = writer.submit(op("first"));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r)); // the first attempt is in flight now
    const second = writer.submit(op("second"));
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual([a.events[0]!.sequence, b.events[0]!.sequence], [1, 2]);
    assert.deepEqual(committed, [[1], [2]]);
  });

  it("re-applies a batch that lost a race, against fresh reads, and answers its callers once it commits", async () => {
    const { writer, attempts, errors } = harness(["conflict", "conflict", "ok"]);
    const done = await Promise.all([writer.submit(op("a")), writer.submit(op("b"))]);
    assert.deepEqual(done.map((d) => d.value), ["a", "b"]);
    assert.deepEqual(attempts.map((a) => a.retry), [false, true, true]);
    assert.deepEqual(errors, [], "a conflict that resolves is not an error");
  });

  it("answers UNAVAILABLE after four conflicts, or at once for any other failure, and keeps working", async () => {
    const h = harness(["conflict", "conflict", "conflict", "conflict", "fail", "ok"]);
    const lost = await Promise.allSettled([h.writer.submit(op("a")), h.writer.submit(op("b"))]);
    assert.deepEqual(lost.map((r) => r.status === "rejected" && r.reason instanceof UnavailableError), [true, true]);
    assert.equal(h.attempts.length, 4);
    await assert.rejects(h.writer.submit(op("c")), UnavailableError);
    assert.equal(h.attempts.length, 5, "no retry for a failure that is not a conflict");
    assert.deepEqual(h.errors.map((e) => (e as Error).message), ["a row changed under the batch", "disk on fire"]);
    assert.equal((await h.writer.submit(op("d"))).value, "d");
  });

  it("rejects only the mutation that refused, with its own error", async () => {
    const { writer } = harness();
    const refused = new Error("illegal transition");
    const [a, b, c] = await Promise.allSettled([writer.submit(op("a")), writer.submit(op("b", refused)), writer.submit(op("c"))]);
    assert.equal(a.status === "fulfilled" && a.value.value, "a");
    assert.equal(b.status === "rejected" && b.reason, refused);
    assert.deepEqual(c.status === "fulfilled" && c.value.events.map((e) => e.sequence), [2]);
  });

  it("answers callers only after publication, and UNAVAILABLE if publication fails", async () => {
    const order: string[] = [];
    let failNext = false;
    const { writer } = harness([], {
      async committed() {
        await new Promise((r) => setImmediate(r));
        order.push("published");
        if (failNext) throw new Error("feed closed");
      },
    });
    await writer.submit(op("a")).then(() => order.push("answered"));
    assert.deepEqual(order, ["published", "answered"]);
    failNext = true;
    await assert.rejects(writer.submit(op("b")), UnavailableError);
  });

  it("close waits for queued mutations, then refuses new ones", async () => {
    const { writer } = harness();
    const queued = writer.submit(op("a"));
    await writer.close();
    assert.equal((await queued).value, "a");
    await assert.rejects(writer.submit(op("b")), UnavailableError);
  });
});
