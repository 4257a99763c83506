import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { authSuite, bearer, codeName, invoke, LISTENERS, OK_SURFACE } from "./helpers.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Who may call what, on both listeners: every role against every RPC with a request that
 * succeeds when allowed; then the user role against another owner's tasks; then callers
 * without a usable token.
 */

const suite = authSuite("taskcontrol-auth-");
const { held, as } = suite;

async function aliceTask(): Promise<string> {
  const res: any = await suite.t.grpc.unary("CreateTask", { owner: "alice", kind: "k", label: "fixture" }, as("admin"));
  return res.task.id;
}

/** A pending confirmation of one of alice's tasks, its RequestConfirmation call held open. */
async function alicePending(): Promise<string> {
  const taskId = await aliceTask();
  const { responses, call } = suite.t.grpc.serverStream("RequestConfirmation", { taskId, title: "Go?", components: OK_SURFACE }, as("admin"));
  call.on("error", () => {});
  held.push(call);
  for await (const first of responses as AsyncIterable<any>) return first.event.value.confirmation.id;
  throw new Error("no pending message");
}

/** Per RPC: a request (built fresh per case) that succeeds for a caller allowed to make it. */
const REQUESTS: Record<string, () => Promise<unknown>> = {
  CreateTask: async () => ({ owner: "alice", kind: "k", label: "made" }),
  GetTask: async () => ({ taskId: await aliceTask() }),
  ListTasks: async () => ({ owner: "alice" }),
  UpdateProgress: async () => ({ taskId: await aliceTask(), progress: 0.5 }),
  EmitProgress: async () => ({ taskId: await aliceTask(), label: "live" }),
  StreamProgress: async () => [{ message: { case: "update", value: { taskId: await aliceTask(), progress: 0.25 } } }],
  RequestConfirmation: async () => ({ taskId: await aliceTask(), title: "Go?", components: OK_SURFACE }),
  ResolveConfirmation: async () => ({ confirmationId: await alicePending(), action: "go" }),
  CompleteTask: async () => ({ taskId: await aliceTask() }),
  FailTask: async () => ({ taskId: await aliceTask(), errorMessage: "boom" }),
  CancelTask: async () => ({ taskId: await aliceTask(), reason: "stop" }),
  // Owner-wide: a worker may watch only task_ids (checked below), so it is refused this one.
  WatchTasks: async () => ({ owner: "alice", includeSnapshot: true }),
  Heartbeat: async () => ({ taskId: await aliceTask() }),
  ClaimTask: async () => ({ taskId: await aliceTask() }),
  ListTaskEvents: async () => ({ taskId: await aliceTask() }),
};

const WORKER = [
  "CreateTask",
  "GetTask",
  "UpdateProgress",
  "EmitProgress",
  "StreamProgress",
  "RequestConfirmation",
  "CompleteTask",
  "FailTask",
  "Heartbeat",
  "ClaimTask",
  "ListTaskEvents",
];
const USER = ["WatchTasks", "GetTask", "ListTasks", "ResolveConfirmation", "CancelTask", "ListTaskEvents"];
const ALLOWED: Record<"worker" | "alice" | "gateway" | "admin", readonly string[]> = {
  worker: WORKER,
  alice: USER,
  gateway: USER,
  admin: Object.keys(REQUESTS),
};

describe("role × RPC matrix", () => {
  it("covers every RPC of the service", () => {
    assert.deepEqual(Object.keys(REQUESTS).sort(), TaskControlService.methods.map((m) => m.name).sort());
  });
  for (const listener of LISTENERS) {
    for (const who of Object.keys(ALLOWED) as (keyof typeof ALLOWED)[]) {
      it(`${listener}: ${who}`, async () => {
        const wrong: string[] = [];
        for (const rpc of Object.keys(REQUESTS)) {
          const allowed = ALLOWED[who].includes(rpc);
          const out = await invoke(suite.t, suite.http, listener, rpc, await REQUESTS[rpc]!(), as(who));
          const want = allowed ? 0 : Code.PermissionDenied;
          if (out.code !== want) wrong.push(`${rpc}: want ${codeName(want)}, got ${codeName(out.code)} ${out.message}`);
        }
        assert.deepEqual(wrong, []);
      });
    }
  }
});

describe("a worker's watch", () => {
  for (const listener of LISTENERS) {
    it(`${listener}: a worker may watch its task_ids (a cancel reaches it between calls)`, async () => {
      const out = await invoke(suite.t, suite.http, listener, "WatchTasks", { taskIds: [await aliceTask()], includeSnapshot: true }, as("worker"));
      assert.equal(out.code, 0, out.message);
    });
  }
});

describe("a user and another owner's tasks", () => {
  for (const listener of LISTENERS) {
    it(`${listener}: every RPC taking a task or confirmation id answers NOT_FOUND, as for a missing one`, async () => {
      const bob = as("bob");
      for (const rpc of ["GetTask", "CancelTask", "ListTaskEvents"]) {
        const taskId = await aliceTask();
        const out = await invoke(suite.t, suite.http, listener, rpc, { taskId, reason: "x" }, bob);
        assert.equal(codeName(out.code), "NotFound", `${rpc}: ${out.message}`);
        const missing = await invoke(suite.t, suite.http, listener, rpc, { taskId: "t-does-not-exist", reason: "x" }, bob);
        assert.equal(missing.code, out.code);
        // The task was left alone.
        const task: any = await suite.t.grpc.unary("GetTask", { taskId }, as("admin"));
        assert.equal(task.task.cancelRequested, false);
      }
      const cid = await alicePending();
      const out = await invoke(suite.t, suite.http, listener, "ResolveConfirmation", { confirmationId: cid, action: "go" }, bob);
      assert.equal(codeName(out.code), "NotFound", out.message);
      // Alice herself may answer it.
      assert.equal((await invoke(suite.t, suite.http, listener, "ResolveConfirmation", { confirmationId: cid, action: "go" }, as("alice"))).code, 0);
    });

    it(`${listener}: the worker-only RPCs on another owner's task are PERMISSION_DENIED for a user`, async () => {
      const taskId = await aliceTask();
      for (const rpc of ["UpdateProgress", "EmitProgress", "RequestConfirmation", "CompleteTask", "FailTask"]) {
        const out = await invoke(suite.t, suite.http, listener, rpc, { taskId, progress: 1, title: "x", components: OK_SURFACE }, as("bob"));
        assert.equal(codeName(out.code), "PermissionDenied", rpc);
      }
    });

    it(`${listener}: WatchTasks and ListTasks for another owner are PERMISSION_DENIED; their own are scoped`, async () => {
      for (const rpc of ["WatchTasks", "ListTasks"]) {
        const out = await invoke(suite.t, suite.http, listener, rpc, { owner: "alice", includeSnapshot: true }, as("bob"));
        assert.equal(codeName(out.code), "PermissionDenied", `${rpc}: ${out.message}`);
      }
      const taskId = await aliceTask();
      const list = await invoke(suite.t, suite.http, listener, "ListTasks", { owner: "" }, as("bob"));
      assert.equal(list.code, 0);
      assert.ok(list.response.tasks.every((task: any) => task.owner === "bob"));
      // Naming alice's task in a watch does not widen bob's scope: the snapshot is empty.
      const watch = await invoke(suite.t, suite.http, listener, "WatchTasks", { owner: "", taskIds: [taskId], includeSnapshot: true }, as("bob"));
      assert.equal(watch.code, 0);
      assert.equal(watch.response.event.case, "snapshotEnd");
      const own = await invoke(suite.t, suite.http, listener, "WatchTasks", { owner: "", taskIds: [taskId], includeSnapshot: true }, as("alice"));
      assert.equal(own.response.event.case, "snapshot");
      // A gateway may watch and list any owner.
      assert.equal((await invoke(suite.t, suite.http, listener, "ListTasks", { owner: "alice" }, as("gateway"))).code, 0);
    });
  }
});

describe("callers without a usable token", () => {
  const BAD: Record<string, Record<string, string>> = {
    missing: {},
    empty: { authorization: "" },
    "wrong scheme": { authorization: `Basic ${Buffer.from("ops:secret").toString("base64")}` },
    "scheme only": { authorization: "Bearer" },
    "two words": { authorization: "Bearer abc def" },
    unknown: { authorization: "Bearer not-a-known-token" },
    "hash instead of token": { authorization: "Bearer 0000000000000000000000000000000000000000000000000000000000000000" },
    huge: { authorization: `Bearer ${"a".repeat(5000)}` },
  };
  for (const listener of LISTENERS) {
    it(`${listener}: every RPC answers UNAUTHENTICATED and nothing is created`, async () => {
      const before: any = await suite.t.grpc.unary("ListTasks", { pageSize: 1000 }, as("admin"));
      for (const [label, headers] of Object.entries(BAD)) {
        for (const rpc of Object.keys(REQUESTS)) {
          const request =
            rpc === "StreamProgress"
              ? [{ message: { case: "emit", value: { taskId: "t-x" } } }]
              : { owner: "alice", taskId: "t-x", confirmationId: "c-x" };
          const out = await invoke(suite.t, suite.http, listener, rpc, request, headers);
          assert.equal(codeName(out.code), "Unauthenticated", `${label} / ${rpc}: ${codeName(out.code)} ${out.message}`);
          assert.ok(!out.message.includes(headers.authorization?.slice(7, 20) || "\u0000"), "the token is not echoed");
        }
      }
      const now: any = await suite.t.grpc.unary("ListTasks", { pageSize: 1000 }, as("admin"));
      assert.equal(now.tasks.length, before.tasks.length);
    });
  }
  it("the token is matched whole: a prefix or a token with one character changed is refused", async () => {
    const tok = suite.tokens.admin;
    const near = tok.slice(0, -1) + (tok.endsWith("A") ? "B" : "A");
    for (const bad of [tok.slice(0, -1), near, `${tok}x`]) {
      assert.equal((await invoke(suite.t, suite.http, "grpc", "ListTasks", {}, bearer(bad))).code, Code.Unauthenticated);
    }
    // The scheme is case-insensitive (RFC 7235).
    assert.equal((await invoke(suite.t, suite.http, "grpc", "ListTasks", {}, { authorization: `bearer ${tok}` })).code, 0);
  });
  it("health, /healthz, /readyz and /metrics need no token", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      assert.equal((await fetch(`http://${suite.t.app.httpAddress}${path}`)).status, 200, path);
    }
  });
});
