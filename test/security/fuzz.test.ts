import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import sqlite3 from "sqlite3";
import { LIMITS } from "../../src/domain/limits.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  codeName,
  envelope,
  type HttpClients,
  httpClients,
  type HttpFormat,
  invoke,
  LISTENERS,
  OK_SURFACE,
  type Outcome,
  rawGrpc,
  rawHttp,
} from "./helpers.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Hostile input on both listeners: every request message with values past the limits
 * (huge strings, NUL, deep or huge or non-finite structs, NaN/±Inf, bad enums, ids of every
 * shape), strings carrying invalid UTF-8 on the wire, and random bytes as the body. Every
 * mutating request carries at least one value that must be refused, so the database must be
 * byte for byte the same afterwards; every answer must be a clean status, never
 * INTERNAL/UNKNOWN; and the server must keep serving.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Statuses a hostile request may get. Anything else (INTERNAL, UNKNOWN, UNAVAILABLE, …) is a bug. */
const CLEAN = new Set([0, 3, 5, 8, 9, 11]);

let dir: string;
let t: TestApp;
let http: HttpClients;
const ids = { running: "", pendingTask: "", confirmation: "", done: "" };

type Snapshot = Record<string, unknown[]>;
async function snapshot(file: string): Promise<Snapshot> {
  const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY);
  const all = (sql: string) => new Promise<unknown[]>((res, rej) => db.all(sql, (e, rows) => (e ? rej(e) : res(rows))));
  try {
    return {
      tasks: await all("select * from tasks order by id"),
      confirmations: await all("select * from confirmations order by id"),
      events: await all("select * from events order by sequence"),
    };
  } finally {
    await new Promise((r) => db.close(r));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-fuzz-"));
  // Short bookmarks: a valid live-only watch answers at once instead of after 15 s.
  t = await startTestApp({ dir, db: join(dir, "fuzz.sqlite"), args: ["--bookmark-interval-ms", "50"] });
  http = httpClients(t.app.httpAddress, true);
  const mk = async () => ((await t.grpc.unary("CreateTask", { owner: "alice", kind: "k", label: "l", checkpoint: { step: 1 } })) as any).task.id;
  ids.running = await mk();
  ids.pendingTask = await mk();
  ids.done = await mk();
  await t.grpc.unary("CompleteTask", { taskId: ids.done, result: { ok: true } });
  const { responses, call } = t.grpc.serverStream("RequestConfirmation", { taskId: ids.pendingTask, title: "Go?", components: OK_SURFACE, requestId: "r-1" });
  call.on("error", () => {});
  for await (const first of responses as AsyncIterable<any>) {
    ids.confirmation = first.event.value.confirmation.id;
    break;
  }
  call.cancel(); // the confirmation stays PENDING: the wait is durable
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---- hostile values --------------------------------------------------------------------------

const HUGE = "H".repeat(LIMITS.messageBytes + 16);
const long = (min: number) => fc.integer({ min, max: min + 3000 }).map((n) => "y".repeat(n));
const deep = (depth: number) => {
  let v: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) v = i % 2 ? { a: [v] } : { o: v };
  return v;
};

const anyString = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ...["", "\ud800", "a\udc00b", "\u0000", "a\u0000", "\r\nx-injected: 1", "' OR 1=1; --"],
      ...["../../etc/passwd", "%00%ff", "\u202e", "null", "t-", "go"],
    ),
  },
  { weight: 2, arbitrary: long(129) },
  { weight: 1, arbitrary: long(LIMITS.textLength) },
  { weight: 1, arbitrary: fc.constant(HUGE) },
);
const validId = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/);
const anyId = fc.oneof(anyString, validId, fc.constantFrom(() => ids.running, () => ids.pendingTask, () => ids.done).map((f) => f()));
const anyNumber = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1));
const leaf = fc.oneof(anyNumber, anyString.filter((s) => s.length < 100_000), fc.boolean(), fc.constant(null));
const anyStruct = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fc.string({ maxLength: 8 }), leaf, { maxKeys: 5 }),
  fc.integer({ min: 2, max: 140 }).map(deep),
  fc.integer({ min: 1, max: 3 }).map((n) => ({ blob: "z".repeat(LIMITS.structBytes * n) })),
  fc.constantFrom(JSON.parse('{"__proto__": {"polluted": true}}'), { "": null }, { x: [[[[]]]] }),
);
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

// Values that must be refused whatever the wire does to them (a lone surrogate is not one:
// binary encoding turns it into U+FFFD, which is valid).
const badText = (max: number) => fc.oneof(long(max + 1), fc.constantFrom("a\u0000b", "\u0000"));
const badStruct = fc.oneof(
  fc.integer({ min: LIMITS.structDepth + 1, max: 140 }).map(deep),
  fc.constant({ blob: "z".repeat(LIMITS.structBytes + 1) }),
  fc.constantFrom({ x: Number.NaN }, { x: Infinity }, { x: [1, -Infinity] }),
);
const badId = fc.oneof(fc.constantFrom("has space", "a/b", "ü", "a\u0000", "\r\n"), long(LIMITS.idLength + 1));
const missingId = fc.stringMatching(/^zz-[a-z0-9]{1,20}$/);
const unusableTask = fc.oneof(badId, missingId, fc.constant("").map(() => ids.done));

const button = (id: string, action: string) => ({ id, kind: { case: "button", value: { label: "B", action } } });
const anyComponent = fc.record({
  id: fc.oneof(validId, anyString),
  kind: fc.oneof(
    fc.record({ case: fc.constant("text"), value: fc.record({ text: anyString }) }),
    fc.record({ case: fc.constant("button"), value: fc.record({ label: anyString, action: fc.oneof(validId, anyString), style: int32 }) }),
    fc.record({
      case: fc.constant("textInput"),
      value: fc.record({ label: anyString, placeholder: anyString, defaultValue: anyString, required: fc.boolean() }),
    }),
    fc.record({
      case: fc.constant("select"),
      value: fc.record({
        label: anyString,
        options: fc.array(fc.record({ value: anyString, label: anyString }), { maxLength: 110 }),
        defaultValue: anyString,
      }),
    }),
    fc.record({ case: fc.constant("checkbox"), value: fc.record({ label: anyString, defaultValue: fc.boolean() }) }),
    fc.constant({ case: undefined }),
  ),
});
const badComponents = fc.oneof(
  fc.constant([]),
  fc.constant(Array.from({ length: LIMITS.components + 1 }, (_, i) => button(`b${i}`, `a${i}`))),
  fc.constant([{ id: "t", kind: { case: "text", value: { text: "no button" } } }]),
  fc.constant([button("same", "a"), button("same", "b")]),
  badId.map((id) => [button(id, "a")]),
  badText(LIMITS.textLength).map((text) => [button("b", "a"), { id: "t", kind: { case: "text", value: { text } } }]),
  fc.constant([{ id: "x", kind: { case: undefined } }, button("b", "a")]),
);
const anyDuration = fc.option(fc.record({ seconds: int64, nanos: int32 }), { nil: undefined });
const badDuration = fc.constantFrom({ seconds: -1n }, { seconds: 10n ** 13n }, { nanos: -1 }, { seconds: 31n * 24n * 3600n }, { nanos: 2_000_000_000 });

/** A base record of anything plus at least one poison field that must be refused. */
const poisoned = <T extends object>(base: fc.Arbitrary<T>, ...poisons: fc.Arbitrary<Partial<T> | Record<string, unknown>>[]) =>
  fc.tuple(base, fc.oneof(...poisons)).map(([b, p]) => ({ ...b, ...p }));

const update = poisoned(
  fc.record({ taskId: anyId, progress: anyNumber, checkpoint: anyStruct, label: fc.option(anyString, { nil: undefined }) }),
  fc.constant({ progress: Number.NaN }),
  badText(LIMITS.labelLength).map((label) => ({ label })),
  badStruct.map((checkpoint) => ({ checkpoint })),
  unusableTask.map((taskId) => ({ taskId })),
);
const emit = fc.record({
  taskId: anyId,
  progress: fc.option(anyNumber, { nil: undefined }),
  label: fc.option(anyString, { nil: undefined }),
  checkpoint: anyStruct,
});

const REQUESTS: Record<string, fc.Arbitrary<unknown>> = {
  CreateTask: poisoned(
    fc.record({ owner: anyString, kind: anyString, label: anyString, checkpoint: anyStruct, requestId: anyString }),
    fc.constant({ owner: "" }),
    badText(LIMITS.ownerLength).map((owner) => ({ owner })),
    badText(LIMITS.kindLength).map((kind) => ({ kind })),
    badText(LIMITS.labelLength).map((label) => ({ label })),
    badStruct.map((checkpoint) => ({ checkpoint })),
    badId.map((requestId) => ({ requestId })),
  ),
  GetTask: fc.record({ taskId: anyId }),
  ListTasks: fc.record({
    owner: anyString,
    statuses: fc.array(fc.integer({ min: -3, max: 20 }), { maxLength: 8 }),
    pageSize: int32,
    pageToken: fc.oneof(anyString, fc.base64String({ maxLength: 200 })),
  }),
  UpdateProgress: update,
  EmitProgress: emit,
  StreamProgress: fc.array(
    fc.oneof(
      update.map((value) => ({ message: { case: "update", value } })),
      emit.map((value) => ({ message: { case: "emit", value } })),
      fc.constant({ message: { case: undefined } }),
    ),
    { minLength: 1, maxLength: 4 },
  ),
  RequestConfirmation: poisoned(
    fc.record({
      taskId: fc.oneof(anyId, fc.constant("").map(() => ids.running)),
      title: anyString,
      components: fc.oneof(fc.constant(OK_SURFACE), fc.array(anyComponent, { maxLength: 6 })),
      requestId: anyString,
      timeout: anyDuration,
    }),
    badText(LIMITS.titleLength).map((title) => ({ title })),
    badComponents.map((components) => ({ components })),
    badDuration.map((timeout) => ({ timeout })),
    badId.map((requestId) => ({ requestId })),
    unusableTask.map((taskId) => ({ taskId })),
  ),
  ResolveConfirmation: poisoned(
    fc.record({ confirmationId: fc.oneof(anyId, fc.constant("").map(() => ids.confirmation)), action: anyString, values: anyStruct }),
    anyString.filter((a) => a !== "go").map((action) => ({ action })),
    badStruct.map((values) => ({ values })),
    fc.constant({ values: { notAnInput: "x" } }),
    fc.oneof(badId, missingId).map((confirmationId) => ({ confirmationId })),
  ),
  CompleteTask: poisoned(
    fc.record({ taskId: anyId, result: anyStruct }),
    badStruct.map((result) => ({ result })),
    unusableTask.map((taskId) => ({ taskId })),
  ),
  FailTask: poisoned(
    fc.record({ taskId: anyId, errorMessage: anyString, details: anyStruct }),
    badText(LIMITS.errorMessageLength).map((errorMessage) => ({ errorMessage })),
    badStruct.map((details) => ({ details })),
    unusableTask.map((taskId) => ({ taskId })),
  ),
  CancelTask: poisoned(
    fc.record({ taskId: anyId, reason: anyString }),
    badText(LIMITS.reasonLength).map((reason) => ({ reason })),
    unusableTask.map((taskId) => ({ taskId })),
  ),
  // A heartbeat writes nothing (the fuzzed tasks have no lease); a bad attempt is refused.
  Heartbeat: fc.record({ taskId: anyId, attempt: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
  ClaimTask: poisoned(
    fc.record({ taskId: anyId, leaseDuration: anyDuration, requestId: anyString }),
    fc.constantFrom({ seconds: 0n, nanos: 999_000_000 }, { seconds: 24n * 3600n + 1n }, { seconds: -1n }, { nanos: -1 }).map((leaseDuration) => ({ leaseDuration })),
    badId.map((requestId) => ({ requestId })),
    unusableTask.map((taskId) => ({ taskId })),
  ),
  WatchTasks: fc.record({
    owner: anyString,
    taskIds: fc.oneof(fc.array(anyId, { maxLength: 12 }), fc.constant(Array.from({ length: LIMITS.watchTaskIds + 1 }, (_, i) => `t-${i}`))),
    includeSnapshot: fc.boolean(),
    // Below 2^53: a sequence ahead of the log past that is the known issue tested at the end.
    afterSequence: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { nil: undefined }),
  }),
  ListTaskEvents: fc.record({
    taskId: fc.oneof(anyId, fc.constant("").map(() => ids.running)),
    pageSize: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    pageToken: fc.oneof(anyString, fc.base64String()),
  }),
};

const RPCS = TaskControlService.methods.map((m) => m.name);
const READ_ONLY = new Set(["GetTask", "ListTasks", "EmitProgress", "WatchTasks", "Heartbeat", "ListTaskEvents"]);

/** Random bytes; for an RPC that writes, behind a tag no decoder accepts (field 0, wire type 7). */
const rawCase = fc.record({
  rpc: fc.constantFrom(...RPCS),
  bytes: fc.uint8Array({ maxLength: 600 }),
  http: fc.constantFrom<HttpFormat | "grpc-web-unframed" | "connect-json-text">("connect-proto", "grpc-web", "grpc-web-unframed", "connect-json-text"),
});

/** A string field (number 1 of every request; nested once for StreamProgress) holding bytes that are not UTF-8. */
const badUtf8Case = fc.record({
  rpc: fc.constantFrom(...RPCS),
  junk: fc.uint8Array({ maxLength: 20 }).map((b) => new Uint8Array([0x61, 0xff, ...b, 0xc0])),
});

function check(label: string, out: Outcome): void {
  assert.ok(CLEAN.has(out.code), `${label}: unclean status ${codeName(out.code)} (${out.code}) ${out.message.slice(0, 200)}`);
  assert.ok(out.message.length <= 1100, `${label}: status message of ${out.message.length} characters`);
}

function withLength(field: number, bytes: Uint8Array): Uint8Array {
  return new Uint8Array([(field << 3) | 2, bytes.byteLength, ...bytes]);
}

/** Counterexamples hold multi-megabyte strings: report runs of a character by their length. */
function squeeze(text: string): string {
  let out = "";
  for (let i = 0; i < text.length && out.length < 6000; ) {
    let j = i + 1;
    while (j < text.length && text[j] === text[i]) j++;
    out += j - i > 64 ? `${text[i]}…(×${j - i})` : text.slice(i, j);
    i = j;
  }
  return out;
}

const methodKind = (rpc: string) => TaskControlService.methods.find((m) => m.name === rpc)!.methodKind;

/** One generated case, sent to both listeners. */
type Case =
  | { kind: "message"; rpc: string; request: unknown }
  | { kind: "raw"; rpc: string; bytes: Uint8Array; http: HttpFormat | "grpc-web-unframed" | "connect-json-text" }
  | { kind: "utf8"; rpc: string; junk: Uint8Array };

async function runCase(c: Case, tally: (k: string) => void): Promise<void> {
  if (process.env.FUZZ_TRACE) {
    const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x)) ?? "";
    console.log("case", c.kind, c.rpc, c.kind === "raw" ? c.http : c.kind === "message" ? squeeze(json(c.request)).slice(0, 400) : "");
  }
  if (c.kind === "message") {
    for (const listener of LISTENERS) {
      const out = await invoke(t, http, listener, c.rpc, c.request);
      tally(`${c.rpc}:${codeName(out.code)}`);
      check(`${listener} ${c.rpc}`, out);
    }
    return;
  }
  const streams = methodKind(c.rpc) !== "unary";
  if (c.kind === "utf8") {
    const field = c.rpc === "StreamProgress" ? withLength(1, withLength(1, c.junk)) : withLength(1, c.junk);
    check(`utf8 grpc ${c.rpc}`, await rawGrpc(t, c.rpc, field));
    const out = await rawHttp(t.app.httpAddress, c.rpc, "connect-proto", streams ? envelope(field) : field);
    check(`utf8 http ${c.rpc}`, out);
    assert.equal(codeName(out.code), "InvalidArgument", `utf8 http ${c.rpc}: ${out.message}`);
    tally("utf8:InvalidArgument");
    return;
  }
  const bytes = READ_ONLY.has(c.rpc) ? c.bytes : new Uint8Array([0x07, ...c.bytes]);
  check(`raw grpc ${c.rpc}`, await rawGrpc(t, c.rpc, bytes));
  let out: Outcome;
  if (c.http === "grpc-web-unframed") out = await rawHttp(t.app.httpAddress, c.rpc, "grpc-web", bytes);
  else if (c.http === "connect-json-text") out = await rawHttp(t.app.httpAddress, c.rpc, "connect-json", streams ? envelope(bytes) : bytes);
  else out = await rawHttp(t.app.httpAddress, c.rpc, c.http, c.http === "grpc-web" || streams ? envelope(bytes) : bytes);
  check(`raw ${c.http} ${c.rpc}`, out);
  tally(`raw:${codeName(out.code)}`);
}

describe("fuzz: hostile requests on both listeners", () => {
  it("answers every one with a clean status, stores nothing and keeps serving", { timeout: 180_000 }, async () => {
    const file = join(dir, "fuzz.sqlite");
    const before = await snapshot(file);
    const seen = new Map<string, number>();
    const tally = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
    const cases: fc.Arbitrary<Case> = fc.oneof(
      { weight: 6, arbitrary: fc.oneof(...RPCS.map((rpc) => REQUESTS[rpc]!.map((request): Case => ({ kind: "message", rpc, request })))) },
      { weight: 2, arbitrary: rawCase.map((c): Case => ({ kind: "raw", ...c })) },
      { weight: 1, arbitrary: badUtf8Case.map((c): Case => ({ kind: "utf8", ...c })) },
    );
    const started = Date.now();
    const seed = process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {};
    try {
      await fc.assert(fc.asyncProperty(cases, (c) => runCase(c, tally)), { numRuns: RUNS, endOnFailure: true, ...seed });
    } catch (err) {
      const e = err as Error;
      throw new Error(squeeze(e.message) + (e.cause instanceof Error ? `\ncause: ${squeeze(e.cause.message)}` : ""));
    }

    const after = await snapshot(file);
    assert.deepEqual(after, before, "no stored row changed");
    // Still serving, on both listeners.
    assert.equal(((await t.grpc.unary("GetTask", { taskId: ids.running })) as any).task.id, ids.running);
    assert.equal((await http.h1.getTask({ taskId: ids.pendingTask })).task!.pendingConfirmation!.id, ids.confirmation);
    assert.equal((await fetch(`http://${t.app.httpAddress}/readyz`)).status, 200);
    // The run exercised refusals of every kind, not one trivially repeated answer.
    const codes = new Set([...seen.keys()].map((k) => k.split(":")[1]));
    for (const c of ["InvalidArgument", "ResourceExhausted", "NotFound"]) assert.ok(codes.has(c), `no ${c} in ${[...codes].join(",")}`);
    console.log(`# fuzz: ${RUNS} cases in ${Date.now() - started} ms`);
  });
});

describe("after_sequence at the edges", () => {
  it("WatchTasks with an after_sequence near the int64 maximum is OUT_OF_RANGE, not INTERNAL", async () => {
    for (const listener of LISTENERS) {
      const out = await invoke(t, http, listener, "WatchTasks", { afterSequence: 2n ** 63n - 10n });
      check(`${listener} WatchTasks`, out);
    }
    const w = t.grpc.serverStream("WatchTasks", { afterSequence: 2n ** 63n - 10n });
    await assert.rejects(
      (async () => {
        for await (const _ of w.responses) void _;
      })(),
      (e: { code: number; details: string }) => e.code === 11 && /ahead of the event log/.test(e.details),
    );
  });
});
