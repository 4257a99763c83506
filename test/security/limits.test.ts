import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { LIMITS } from "../../src/domain/limits.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  codeName,
  envelope,
  type HttpClients,
  httpClients,
  invoke,
  LISTENERS,
  OK_SURFACE,
  rawGrpc,
  rawHttp,
} from "./helpers.js";
import { trackLeaks } from "../support/leaks.js";
import { CreateTaskRequestSchema, GetTaskRequestSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Every input limit of issue 5 on both listeners: past it the call fails with
 * INVALID_ARGUMENT naming the field (RESOURCE_EXHAUSTED for a whole message), malformed
 * bodies are refused cleanly, and nothing is stored.
 */

const leaks = trackLeaks();
let t: TestApp;
let http: HttpClients;
let taskId: string;
let confirmationId: string;
let held: { cancel(): void };

const deep = (depth: number): Record<string, unknown> => {
  let v: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) v = { n: v };
  return v;
};
const big = () => ({ blob: "x".repeat(LIMITS.structBytes + 1) });
const s = (n: number) => "a".repeat(n);

before(async () => {
  t = await startTestApp();
  http = httpClients(t.app.httpAddress, true);
  taskId = ((await t.grpc.unary("CreateTask", { owner: "alice", kind: "k", label: "fixture" })) as any).task.id;
  const pendingTask = ((await t.grpc.unary("CreateTask", { owner: "alice", kind: "k" })) as any).task.id;
  const { responses, call } = t.grpc.serverStream("RequestConfirmation", {
    taskId: pendingTask,
    title: "Go?",
    components: [...OK_SURFACE, { id: "name", kind: { case: "textInput", value: { label: "Name" } } }],
  });
  call.on("error", () => {});
  held = call;
  for await (const first of responses as AsyncIterable<any>) {
    confirmationId = first.event.value.confirmation.id;
    break;
  }
});
after(async () => {
  held.cancel();
  await t.close();
  await leaks.check();
});

/** [rpc, request, the field the error must name]; the request is built when the case runs. */
const CASES: [string, () => object, string][] = [
  ["CreateTask", () => ({ owner: "", kind: "k" }), "owner"],
  ["CreateTask", () => ({ owner: s(LIMITS.ownerLength + 1), kind: "k" }), "owner"],
  ["CreateTask", () => ({ owner: "o", kind: s(LIMITS.kindLength + 1) }), "kind"],
  ["CreateTask", () => ({ owner: "o", label: s(LIMITS.labelLength + 1) }), "label"],
  ["CreateTask", () => ({ owner: "o", label: "a\u0000b" }), "label"],
  ["CreateTask", () => ({ owner: "o", checkpoint: big() }), "checkpoint"],
  ["CreateTask", () => ({ owner: "o", checkpoint: deep(LIMITS.structDepth + 1) }), "checkpoint"],
  ["CreateTask", () => ({ owner: "o", checkpoint: { x: Number.NaN } }), "checkpoint"],
  ["CreateTask", () => ({ owner: "o", checkpoint: { x: Number.POSITIVE_INFINITY } }), "checkpoint"],
  ["CreateTask", () => ({ owner: "o", requestId: "has space" }), "request_id"],
  ["CreateTask", () => ({ owner: "o", requestId: s(LIMITS.idLength + 1) }), "request_id"],
  ["GetTask", () => ({ taskId: "" }), "task_id"],
  ["UpdateProgress", () => ({ taskId: "", progress: 0.5 }), "task_id"],
  ["EmitProgress", () => ({ taskId: "" }), "task_id"],
  ["UpdateProgress", () => ({ taskId, progress: Number.NaN }), "progress"],
  ["UpdateProgress", () => ({ taskId, progress: 0.5, label: s(LIMITS.labelLength + 1) }), "label"],
  ["UpdateProgress", () => ({ taskId, progress: 0.5, checkpoint: deep(LIMITS.structDepth + 1) }), "checkpoint"],
  ["UpdateProgress", () => ({ taskId, progress: 0.5, checkpoint: big() }), "checkpoint"],
  ["EmitProgress", () => ({ taskId, label: s(LIMITS.labelLength + 1) }), "label"],
  ["EmitProgress", () => ({ taskId, checkpoint: big() }), "checkpoint"],
  ["RequestConfirmation", () => ({ taskId, title: s(LIMITS.titleLength + 1), components: OK_SURFACE }), "title"],
  ["RequestConfirmation", () => ({ taskId, title: "t", components: [] }), "components"],
  [
    "RequestConfirmation",
    () => ({
      taskId,
      title: "t",
      components: Array.from({ length: LIMITS.components + 1 }, (_, i) => ({ id: `b${i}`, kind: { case: "button", value: { label: "B", action: `a${i}` } } })),
    }),
    "components",
  ],
  [
    "RequestConfirmation",
    () => ({ taskId, title: "t", components: [...OK_SURFACE, { id: "txt", kind: { case: "text", value: { text: s(LIMITS.textLength + 1) } } }] }),
    "components[1].text.text",
  ],
  [
    "RequestConfirmation",
    () => ({ taskId, title: "t", components: [{ id: "no good", kind: { case: "button", value: { label: "B", action: "a" } } }] }),
    "components[0].id",
  ],
  ["RequestConfirmation", () => ({ taskId, title: "t", components: OK_SURFACE, requestId: "r!" }), "request_id"],
  ["RequestConfirmation", () => ({ taskId, title: "t", components: OK_SURFACE, timeout: { seconds: -1n } }), "timeout"],
  ["ResolveConfirmation", () => ({ confirmationId, action: "go", values: big() }), "values"],
  ["ResolveConfirmation", () => ({ confirmationId, action: "go", values: deep(LIMITS.structDepth + 1) }), "values"],
  ["ResolveConfirmation", () => ({ confirmationId, action: "go", values: { name: s(LIMITS.textLength + 1) } }), "values.name"],
  ["ResolveConfirmation", () => ({ confirmationId: "", action: "go" }), "confirmation_id"],
  ["ResolveConfirmation", () => ({ confirmationId, action: s(LIMITS.idLength + 1) }), "action"],
  ["CompleteTask", () => ({ taskId, result: big() }), "result"],
  ["CompleteTask", () => ({ taskId, result: deep(LIMITS.structDepth + 1) }), "result"],
  ["FailTask", () => ({ taskId, errorMessage: s(LIMITS.errorMessageLength + 1) }), "error_message"],
  ["FailTask", () => ({ taskId, errorMessage: "x", details: big() }), "details"],
  ["CancelTask", () => ({ taskId, reason: s(LIMITS.reasonLength + 1) }), "reason"],
  ["WatchTasks", () => ({ taskIds: Array.from({ length: LIMITS.watchTaskIds + 1 }, (_, i) => `t-${i}`) }), "task_ids"],
  ["WatchTasks", () => ({ taskIds: ["ok", "not ok"] }), "task_ids[1]"],
  [
    "StreamProgress",
    () => [
      { message: { case: "update", value: { taskId, progress: 0.1 } } },
      { message: { case: "update", value: { taskId, progress: Number.NaN } } },
    ],
    "messages[1].progress",
  ],
];

describe("field limits", () => {
  for (const listener of LISTENERS) {
    it(`${listener}: past each limit → INVALID_ARGUMENT naming the field, and nothing is stored`, async () => {
      const before: any = await t.grpc.unary("GetTask", { taskId });
      const tasksBefore = ((await t.grpc.unary("ListTasks", { pageSize: 1000 })) as any).tasks.length;
      const wrong: string[] = [];
      for (const [rpc, request, field] of CASES) {
        const out = await invoke(t, http, listener, rpc, request());
        if (out.code !== Code.InvalidArgument || !out.message.startsWith(`${field}:`)) {
          wrong.push(`${rpc} ${field}: ${codeName(out.code)} ${out.message.slice(0, 120)}`);
        }
      }
      assert.deepEqual(wrong, []);
      const now: any = await t.grpc.unary("GetTask", { taskId });
      // StreamProgress's first (valid) update is applied by design; nothing else touched the row.
      assert.equal(now.task.label, before.task.label);
      assert.equal(now.task.status, before.task.status);
      assert.equal(now.task.checkpoint, undefined);
      assert.equal(((await t.grpc.unary("ListTasks", { pageSize: 1000 })) as any).tasks.length, tasksBefore);
      const c: any = await t.grpc.unary("ListTasks", { statuses: [2] });
      assert.equal(c.tasks[0].pendingConfirmation.state, 1, "the confirmation is still pending");
    });
  }
});

/** [rpc, request with a malformed (non-empty) id, the status]: ids are opaque, so it names nothing. */
const MALFORMED_IDS: [string, () => object, string][] = [
  ["GetTask", () => ({ taskId: s(LIMITS.idLength + 1) }), "NotFound"],
  ["GetTask", () => ({ taskId: "t/../../etc" }), "NotFound"],
  ["CompleteTask", () => ({ taskId: "t nope!" }), "NotFound"],
  ["FailTask", () => ({ taskId: "t\u0000x", errorMessage: "x" }), "NotFound"],
  ["CancelTask", () => ({ taskId: "ü" }), "NotFound"],
  ["RequestConfirmation", () => ({ taskId: "t nope!", title: "t", components: OK_SURFACE }), "NotFound"],
  ["ResolveConfirmation", () => ({ confirmationId: "c x", action: "go" }), "NotFound"],
  ["UpdateProgress", () => ({ taskId: "t nope!", progress: 0.5 }), "OK"],
  ["EmitProgress", () => ({ taskId: "t nope!" }), "OK"],
];

describe("malformed ids", () => {
  for (const listener of LISTENERS) {
    it(`${listener}: a malformed id is an unknown id (NOT_FOUND, or found=false), and nothing is stored`, async () => {
      const tasksBefore = ((await t.grpc.unary("ListTasks", { pageSize: 1000 })) as any).tasks.length;
      const wrong: string[] = [];
      for (const [rpc, request, want] of MALFORMED_IDS) {
        const out = await invoke(t, http, listener, rpc, request());
        if (codeName(out.code) !== want || (want === "OK" && out.response?.found !== false)) {
          wrong.push(`${rpc}: ${codeName(out.code)} ${out.message.slice(0, 120)}`);
        }
      }
      assert.deepEqual(wrong, []);
      assert.equal(((await t.grpc.unary("ListTasks", { pageSize: 1000 })) as any).tasks.length, tasksBefore);
    });
  }
});

describe("whole messages and malformed bodies", () => {
  const huge = () => ({ owner: "o", label: "x".repeat(LIMITS.messageBytes + 10) });
  it("a message over 4 MiB is RESOURCE_EXHAUSTED on both listeners, in every encoding", async () => {
    assert.equal(codeName((await invoke(t, http, "grpc", "CreateTask", huge())).code), "ResourceExhausted");
    assert.equal(codeName((await invoke(t, http, "http", "CreateTask", huge())).code), "ResourceExhausted");
    const json = httpClients(t.app.httpAddress, false);
    assert.equal(codeName((await invoke(t, json, "http", "CreateTask", huge())).code), "ResourceExhausted");
    const bytes = toBinary(CreateTaskRequestSchema, create(CreateTaskRequestSchema, huge()));
    assert.equal(codeName((await rawHttp(t.app.httpAddress, "CreateTask", "grpc-web", envelope(bytes))).code), "ResourceExhausted");
    const tooBig = envelope(new Uint8Array(LIMITS.messageBytes + 1));
    assert.equal(codeName((await rawHttp(t.app.httpAddress, "WatchTasks", "connect-proto", tooBig)).code), "ResourceExhausted");
  });

  it("undecodable protobuf is INVALID_ARGUMENT on both listeners, for unary and streaming RPCs", async () => {
    const garbage = new Uint8Array([0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07, 0x01]);
    for (const rpc of ["CreateTask", "WatchTasks", "StreamProgress", "RequestConfirmation"]) {
      assert.equal(codeName((await rawGrpc(t, rpc, garbage)).code), "InvalidArgument", `grpc ${rpc}`);
      for (const format of ["connect-proto", "grpc-web"] as const) {
        const body = format === "grpc-web" || rpc !== "CreateTask" ? envelope(garbage) : garbage;
        const out = await rawHttp(t.app.httpAddress, rpc, format, body);
        assert.equal(codeName(out.code), "InvalidArgument", `${format} ${rpc}: ${out.message}`);
      }
    }
  });

  it("a string field holding invalid UTF-8 is INVALID_ARGUMENT on both listeners", async () => {
    const valid = toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { taskId }));
    // Field 1 (task_id) again, now with bytes that are not UTF-8: the last value wins.
    const bad = new Uint8Array([...valid, 0x0a, 0x03, 0x61, 0xff, 0xfe]);
    assert.equal(codeName((await rawGrpc(t, "GetTask", bad)).code), "InvalidArgument");
    assert.equal(codeName((await rawHttp(t.app.httpAddress, "GetTask", "connect-proto", bad)).code), "InvalidArgument");
    assert.equal(codeName((await rawHttp(t.app.httpAddress, "GetTask", "grpc-web", envelope(bad))).code), "InvalidArgument");
  });

  it("malformed JSON is INVALID_ARGUMENT", async () => {
    for (const body of ["{", "[]", '{"taskId": 12}', '{"owner": "\\ud800"', "\u0000", '{"checkpoint": ' + "[".repeat(5000) + "]".repeat(5000) + "}"]) {
      const out = await rawHttp(t.app.httpAddress, "CreateTask", "connect-json", new TextEncoder().encode(body));
      assert.equal(codeName(out.code), "InvalidArgument", `${body.slice(0, 20)}: ${out.message}`);
    }
  });

  it("an answer quoting a huge field comes back with a short message on both listeners", async () => {
    const action = "z".repeat(2 * 1024 * 1024);
    for (const listener of LISTENERS) {
      const out = await invoke(t, http, listener, "ResolveConfirmation", { confirmationId, action });
      assert.equal(codeName(out.code), "InvalidArgument", out.message.slice(0, 100));
      assert.ok(out.message.length < 1100, `message of ${out.message.length} characters`);
    }
  });
});

describe("per-principal stream cap", () => {
  let capped: TestApp;
  let capHttp: HttpClients;
  before(async () => {
    capped = await startTestApp({ args: ["--max-streams-per-principal", "2"] });
    capHttp = httpClients(capped.app.httpAddress);
  });
  after(async () => capped.close());

  it("a principal past its cap gets RESOURCE_EXHAUSTED on either listener until a stream ends", async () => {
    const a = capped.grpc.serverStream("WatchTasks", { includeSnapshot: true });
    a.call.on("error", () => {});
    for await (const _ of a.responses) break;
    const abort = new AbortController();
    const b = capHttp.h1.watchTasks({ includeSnapshot: true }, { signal: abort.signal })[Symbol.asyncIterator]();
    await b.next();
    for (const listener of LISTENERS) {
      const out = await invoke(capped, capHttp, listener, "WatchTasks", { includeSnapshot: true });
      assert.equal(codeName(out.code), "ResourceExhausted", `${listener}: ${out.message}`);
      assert.match(out.message, /limit 2/);
    }
    // Unary calls are not capped.
    assert.equal((await invoke(capped, capHttp, "http", "ListTasks", {})).code, 0);
    a.call.cancel();
    abort.abort();
    await b.return?.().catch(() => {});
    for (const listener of LISTENERS) {
      let out = await invoke(capped, capHttp, listener, "WatchTasks", { includeSnapshot: true });
      // The cancelled streams' slots come back as soon as the server sees the cancellation.
      for (let i = 0; i < 50 && out.code === Code.ResourceExhausted; i++) {
        await new Promise((r) => setTimeout(r, 20));
        out = await invoke(capped, capHttp, listener, "WatchTasks", { includeSnapshot: true });
      }
      assert.equal(out.code, 0, `${listener}: ${out.message}`);
    }
  });
});
