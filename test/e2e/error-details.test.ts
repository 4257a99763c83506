import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import { readGrpcError } from "../support/grpc-errors.js";
import { type ReadableError, readError } from "../support/in-process.js";
import { REPLACE_SURFACE } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Every non-OK status carries google.rpc details a program can read, on both listeners and
 * every protocol: ErrorInfo (domain "taskcontrol", a stable reason, metadata), BadRequest
 * field violations on INVALID_ARGUMENT. Read here the way each kind of client reads them:
 * grpc-js from `grpc-status-details-bin`, connect's clients through findDetails.
 */

/** What a client can read off a failed call. */
type Seen = ReadableError;

type Call = (c: Client<typeof TaskControlService>) => Promise<unknown>;

const leaks = trackLeaks();
let t: TestApp;
let clients: Record<string, Client<typeof TaskControlService>>;
before(async () => {
  t = await startTestApp({ args: ["--max-streams-per-principal", "2"] });
  const baseUrl = `http://${t.app.httpAddress}`;
  clients = {
    "connect (HTTP/1.1, JSON)": t.connect,
    "connect (h2c, binary)": createClient(
      TaskControlService,
      createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
    ),
    "gRPC-Web (HTTP/1.1)": createClient(TaskControlService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
    "gRPC over h2c on the HTTP listener": createClient(TaskControlService, createGrpcTransport({ baseUrl })),
  };
});
after(async () => {
  await t.close();
  await leaks.check();
});

async function viaConnect(c: Client<typeof TaskControlService>, call: Call): Promise<Seen> {
  try {
    await call(c);
  } catch (err) {
    return readError(ConnectError.from(err));
  }
  assert.fail("the call succeeded");
}

async function viaGrpcJs(method: string, request: object): Promise<Seen> {
  try {
    await t.grpc.byName.unary(method, request);
  } catch (err) {
    return readGrpcError(err as grpc.ServiceError);
  }
  assert.fail("the call succeeded");
}

async function newTask(): Promise<string> {
  const { task } = await t.connect.createTask({ owner: "errors", label: "errors" });
  return task!.id;
}

describe("error details", () => {
  it("an unknown task is NOT_FOUND with reason TASK_NOT_FOUND on every protocol", async () => {
    const want = { code: Code.NotFound, reason: "TASK_NOT_FOUND", domain: "taskcontrol" };
    const grpcJs = await viaGrpcJs("GetTask", { taskId: "t-missing" });
    assert.deepEqual({ code: grpcJs.code, reason: grpcJs.reason, domain: grpcJs.domain }, want);
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, (c) => c.getTask({ taskId: "t-missing" }));
      assert.deepEqual({ code: seen.code, reason: seen.reason, domain: seen.domain }, want, name);
    }
  });

  it("INVALID_ARGUMENT names each bad field as its request path in BadRequest", async () => {
    const id = await newTask();
    const nan = await viaGrpcJs("UpdateProgress", { taskId: id, progress: Number.NaN });
    assert.deepEqual([nan.code, nan.reason, nan.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", ["progress"]]);
    const components = [
      { id: "dup", kind: { case: "text", value: { text: "a" } } },
      { id: "dup", kind: { case: "button", value: { label: "Go", action: "go" } } },
    ] as const;
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, async (c) => {
        for await (const _ of c.requestConfirmation({ taskId: id, title: "x", components: [...components] })) break;
      });
      assert.deepEqual([seen.code, seen.reason, seen.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", ["components[1].id"]], name);
    }
  });

  it("an illegal transition is FAILED_PRECONDITION ILLEGAL_TRANSITION with the task's status", async () => {
    const id = await newTask();
    await t.connect.completeTask({ taskId: id });
    const grpcJs = await viaGrpcJs("FailTask", { taskId: id, errorMessage: "late" });
    assert.deepEqual([grpcJs.code, grpcJs.reason, grpcJs.metadata.task_status], [
      Code.FailedPrecondition,
      "ILLEGAL_TRANSITION",
      "TASK_STATUS_SUCCEEDED",
    ]);
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, (c) => c.failTask({ taskId: id, errorMessage: "late" }));
      assert.deepEqual([seen.reason, seen.metadata.task_status], ["ILLEGAL_TRANSITION", "TASK_STATUS_SUCCEEDED"], name);
    }
  });

  it("an unknown confirmation is CONFIRMATION_NOT_FOUND; a second answer ALREADY_RESOLVED", async () => {
    const missing = await viaGrpcJs("ResolveConfirmation", { confirmationId: "c-missing", action: "x" });
    assert.deepEqual([missing.code, missing.reason], [Code.NotFound, "CONFIRMATION_NOT_FOUND"]);
    const id = await newTask();
    const held = t.connect.requestConfirmation({ taskId: id, title: "Replace?", components: REPLACE_SURFACE as never });
    const it = held[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value?.event.case, "pending");
    const cid = first.value!.event.value!.confirmation!.id;
    await t.connect.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" });
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, (c) => c.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" }));
      assert.deepEqual([seen.code, seen.reason, seen.metadata.confirmation_state], [
        Code.FailedPrecondition,
        "ALREADY_RESOLVED",
        "CONFIRMATION_STATE_ANSWERED",
      ], name);
    }
    while (!(await it.next()).done);
  });

  it("a request with three bad fields gets three violations, one per field, on every protocol", async () => {
    const bad = { owner: "", kind: "k".repeat(129), label: "l".repeat(513) };
    const want = [Code.InvalidArgument, "INVALID_ARGUMENT", ["owner", "kind", "label"]];
    const grpcJs = await viaGrpcJs("CreateTask", bad);
    assert.deepEqual([grpcJs.code, grpcJs.reason, grpcJs.fields], want, "grpc-js");
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, (c) => c.createTask(bad));
      assert.deepEqual([seen.code, seen.reason, seen.fields], want, name);
    }
    const id = await newTask();
    const components = [
      { id: "", kind: { case: "button", value: { label: "Go", action: "go" } } },
      { id: "x", kind: { case: "text", value: { text: "t".repeat(4097) } } },
    ] as const;
    const surface = { taskId: id, title: "t".repeat(513), components: [...components], timeout: { seconds: -1n } };
    const fields = ["title", "components[0].id", "components[1].text.text", "timeout"];
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, async (c) => {
        for await (const _ of c.requestConfirmation(surface)) break;
      });
      assert.deepEqual([seen.code, seen.fields], [Code.InvalidArgument, fields], name);
    }
  });

  it("a malformed id is an id that does not exist; an empty one is INVALID_ARGUMENT, on every RPC", async () => {
    const notFound = (seen: Seen) => [seen.code, seen.reason];
    for (const rpc of ["GetTask", "CompleteTask", "FailTask", "CancelTask"]) {
      for (const taskId of ["t nope!", "t-" + "x".repeat(200)]) {
        assert.deepEqual(notFound(await viaGrpcJs(rpc, { taskId })), [Code.NotFound, "TASK_NOT_FOUND"], `grpc-js ${rpc} ${taskId.slice(0, 8)}`);
      }
      const empty = await viaGrpcJs(rpc, { taskId: "" });
      assert.deepEqual([empty.code, empty.fields], [Code.InvalidArgument, ["task_id"]], `grpc-js ${rpc} empty`);
    }
    const malformed = await viaGrpcJs("ResolveConfirmation", { confirmationId: "c nope!", action: "go" });
    assert.deepEqual(notFound(malformed), [Code.NotFound, "CONFIRMATION_NOT_FOUND"]);
    for (const [name, c] of Object.entries(clients)) {
      assert.deepEqual(notFound(await viaConnect(c, (c) => c.getTask({ taskId: "t nope!" }))), [Code.NotFound, "TASK_NOT_FOUND"], name);
      const held = await viaConnect(c, async (c) => {
        for await (const _ of c.requestConfirmation({ taskId: "t nope!", title: "x", components: [...REPLACE_SURFACE] as never })) break;
      });
      assert.deepEqual(notFound(held), [Code.NotFound, "TASK_NOT_FOUND"], name);
      const answer = await viaConnect(c, (c) => c.resolveConfirmation({ confirmationId: "c nope!", action: "go" }));
      assert.deepEqual(notFound(answer), [Code.NotFound, "CONFIRMATION_NOT_FOUND"], name);
      const noId = await viaConnect(c, (c) => c.resolveConfirmation({ confirmationId: "", action: "go" }));
      assert.deepEqual([noId.code, noId.fields], [Code.InvalidArgument, ["confirmation_id"]], name);
      // Progress calls answer a malformed id found=false, and an empty one INVALID_ARGUMENT.
      assert.equal((await c.updateProgress({ taskId: "t nope!", progress: 0.5 })).found, false, name);
      assert.equal((await c.emitProgress({ taskId: "t nope!" })).found, false, name);
      for (const call of [(c: Client<typeof TaskControlService>) => c.updateProgress({ taskId: "", progress: 0.5 }), (c: Client<typeof TaskControlService>) => c.emitProgress({ taskId: "" })]) {
        const seen = await viaConnect(c, call);
        assert.deepEqual([seen.code, seen.fields], [Code.InvalidArgument, ["task_id"]], name);
      }
    }
  });

  it("a resume point ahead of the log is OUT_OF_RANGE with oldest_sequence in the metadata", async () => {
    for (const [name, c] of Object.entries(clients)) {
      const seen = await viaConnect(c, async (c) => {
        for await (const _ of c.watchTasks({ afterSequence: 10n ** 12n })) break;
      });
      assert.equal(seen.code, Code.OutOfRange, name);
      assert.equal(seen.reason, "SEQUENCE_AHEAD", name);
      assert.match(seen.metadata.oldest_sequence ?? "", /^\d+$/, name);
    }
  });

  it("past the stream cap a watch is RESOURCE_EXHAUSTED STREAM_LIMIT with the limit", async () => {
    const abort = new AbortController();
    const holders = [0, 1].map(async () => {
      try {
        for await (const _ of t.connect.watchTasks({ owner: "cap" }, { signal: abort.signal }));
      } catch {
        // ended by the abort below
      }
    });
    try {
      // Wait until both slots are taken (the server counts them when the call is admitted).
      for (let i = 0; i < 200; i++) {
        const m = await (await fetch(`http://${t.app.httpAddress}/metrics`)).text();
        if (/taskcontrol_open_streams\{[^}]*WatchTasks[^}]*\} 2/.test(m)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const seen = await viaConnect(clients["gRPC over h2c on the HTTP listener"]!, async (c) => {
        for await (const _ of c.watchTasks({ owner: "cap" })) break;
      });
      assert.deepEqual([seen.code, seen.reason, seen.metadata.limit], [Code.ResourceExhausted, "STREAM_LIMIT", "2"]);
      const grpcJs = t.grpc.serverStream("WatchTasks", { owner: "cap" });
      const err = await new Promise<grpc.ServiceError>((resolve) => grpcJs.call.on("error", resolve));
      assert.deepEqual([readGrpcError(err).reason, readGrpcError(err).metadata.limit], ["STREAM_LIMIT", "2"]);
    } finally {
      abort.abort();
      await Promise.all(holders);
    }
  });

  it("an empty task id is INVALID_ARGUMENT on task_id, with no RetryInfo", async () => {
    const seen = await viaGrpcJs("GetTask", { taskId: "" });
    assert.deepEqual([seen.code, seen.reason, seen.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", ["task_id"]]);
    assert.equal(seen.retry, false);
  });
});
