import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SequencedEvent } from "../../src/domain/model.js";
import {
  createLiveRelay,
  decodeLiveLines,
  encodeLiveLines,
  type LiveLine,
  MAX_LIVE_PAYLOAD_BYTES,
} from "../../src/replication/live-relay.js";

/** Live lines between replicas: NOTIFY payloads stay under PostgreSQL's 8000 bytes; coalescing; holding. */

const line = (i: number, extra: Partial<LiveLine> = {}): LiveLine => ({
  taskId: `t-${i}`,
  owner: "o".repeat(128),
  progress: i / 1000,
  label: "é".repeat(512),
  checkpoint: { step: i },
  time: 1_700_000_000_000 + i,
  ...extra,
});

const liveEvent = (taskId: string, label: string, sequence = 7): SequencedEvent => ({
  sequence,
  time: 1,
  taskId,
  owner: "o",
  event: { type: "progress", taskId, owner: "o", progress: 0.5, label, checkpoint: null, persisted: false },
});

describe("live line payloads", () => {
  it("packs many lines into payloads that each stay under 8000 bytes, losing none", () => {
    const lines = Array.from({ length: 300 }, (_, i) => line(i));
    const payloads = encodeLiveLines("replica-a", 42, lines);
    assert.ok(payloads.length > 1);
    for (const p of payloads) assert.ok(Buffer.byteLength(p, "utf8") <= MAX_LIVE_PAYLOAD_BYTES, `${Buffer.byteLength(p)}`);
    const decoded = payloads.map((p) => decodeLiveLines(p)!);
    assert.ok(decoded.every((d) => d.replicaId === "replica-a" && d.sequence === 42));
    assert.deepEqual(decoded.flatMap((d) => d.lines), lines);
  });

  it("drops a checkpoint too big for a payload, then cuts the label if still needed", () => {
    const big = line(1, { checkpoint: { blob: "x".repeat(64 * 1024) } });
    const [p] = encodeLiveLines("r", 1, [big, line(2)]);
    const [first, second] = decodeLiveLines(p!)!.lines;
    assert.deepEqual(first, { ...big, checkpoint: null });
    assert.deepEqual(second, line(2), "a line that fits keeps its checkpoint");
    const [small] = encodeLiveLines("r", 1, [line(3)], 800);
    assert.ok(Buffer.byteLength(small!, "utf8") <= 800);
    const cut = decodeLiveLines(small!)!.lines[0]!;
    assert.ok(cut.label.length > 100 && cut.label.length < 512 && "é".repeat(512).startsWith(cut.label));
    assert.equal(cut.checkpoint, null);
  });

  it("ignores what is not a payload", () => {
    assert.equal(decodeLiveLines("not json"), null);
    assert.equal(decodeLiveLines('{"r":1}'), null);
    assert.deepEqual(decodeLiveLines('{"r":"x","s":1,"l":[["t","o","bad","l",null,1]]}')!.lines, []);
  });
});

describe("the live relay", () => {
  it("coalesces per task and keeps one NOTIFY in flight", async () => {
    const sent: string[] = [];
    let release = (): void => undefined;
    const relay = createLiveRelay({
      replicaId: "a",
      send: async (p) => {
        sent.push(p);
        await new Promise<void>((r) => (release = r));
      },
      deliver: () => undefined,
      lastSequence: () => 0,
      want: () => undefined,
    });
    for (let i = 0; i < 1000; i++) relay.offer([liveEvent(`t-${i % 3}`, `line ${i}`)]);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
    assert.deepEqual(decodeLiveLines(sent[0]!)!.lines.map((l) => l.label), ["line 997", "line 998", "line 999"]);
    relay.offer([liveEvent("t-0", "during")]);
    relay.offer([liveEvent("t-0", "during 2")]);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1, "nothing more while a NOTIFY is in flight");
    release();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(sent.length, 2);
    assert.deepEqual(decodeLiveLines(sent[1]!)!.lines.map((l) => l.label), ["during 2"]);
    release();
    relay.close();
  });

  it("ignores its own payloads and holds a line until the event it follows is published", async () => {
    let last = 5;
    const delivered: SequencedEvent[] = [];
    const wanted: number[] = [];
    const relay = createLiveRelay({
      replicaId: "b",
      send: async () => undefined,
      deliver: (events) => delivered.push(...events),
      lastSequence: () => last,
      want: (s) => wanted.push(s),
      holdMs: 200,
    });
    const [own] = encodeLiveLines("b", 1, [line(1)]);
    relay.receive(own!);
    assert.equal(delivered.length, 0);
    const [now] = encodeLiveLines("a", 5, [line(2)]);
    relay.receive(now!);
    assert.deepEqual(delivered.map((e) => [e.taskId, e.sequence, e.event.type === "progress" && e.event.persisted]), [["t-2", 5, false]]);
    const [ahead] = encodeLiveLines("a", 9, [line(3)]);
    relay.receive(ahead!);
    assert.equal(delivered.length, 1, "held: this replica has not published sequence 9 yet");
    assert.deepEqual(wanted, [9]);
    last = 9;
    relay.published();
    assert.deepEqual(delivered.map((e) => [e.taskId, e.sequence]), [["t-2", 5], ["t-3", 9]]);
    const [never] = encodeLiveLines("a", 50, [line(4)]);
    relay.receive(never!);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(delivered.at(-1)?.taskId, "t-4", "released after holdMs anyway");
    relay.close();
  });
});
