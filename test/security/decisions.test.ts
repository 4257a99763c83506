import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { ComponentInit } from "../support/flows.js";
import { readGrpcError } from "../support/grpc-errors.js";
import { type ReadableError, readError } from "../support/in-process.js";
import { authSuite, type Listener, LISTENERS, type Who } from "./helpers.js";
import type { RequestConfirmationResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Human decisions with auth on, over grpc-js (the gRPC listener) and Connect (the HTTP
 * listener): who may answer (a named answerer, another user of the same owner refused,
 * another owner NOT_FOUND), field violations that leave the confirmation pending, the safe
 * retry, and ListTaskEvents scoped like GetTask. Each error is read from its details.
 */

const suite = authSuite("taskcontrol-decisions-");
const { held, as } = suite;

const SURFACE: ComponentInit[] = [
  { id: "confirm_text", kind: { case: "text", value: { text: "A model with the same name already exists. Replace it?" } } },
  { id: "confirm_replace", kind: { case: "button", value: { label: "Replace", action: "replace", value: { replace_existing: true } } } },
  { id: "confirm_cancel", kind: { case: "button", value: { label: "Cancel", action: "cancel", value: { replace_existing: false } } } },
  { id: "new_name", kind: { case: "textInput", value: { label: "New name", pattern: "[a-z0-9-]+", maxLength: 20 } } },
];

/** Calls a unary RPC on a listener as `who`: the response, or what the error's details say. */
async function call(listener: Listener, who: Who, rpc: "ResolveConfirmation" | "ListTaskEvents" | "GetTask", request: object): Promise<{ ok?: any; err?: ReadableError }> {
  if (listener === "grpc") {
    try {
      return { ok: await suite.t.grpc.byName.unary(rpc, request, as(who)) };
    } catch (err) {
      return { err: readGrpcError(err as grpc.ServiceError) };
    }
  }
  const fn = suite.http.h1[(rpc[0]!.toLowerCase() + rpc.slice(1)) as "resolveConfirmation"] as (r: object, o: object) => Promise<unknown>;
  try {
    return { ok: await fn(request, { headers: as(who) }) };
  } catch (err) {
    return { err: readError(ConnectError.from(err)) };
  }
}

/** A worker's held RequestConfirmation on a new task of alice: its id and its resolved message. */
async function ask(extra: object = {}) {
  const created: any = await suite.t.grpc.unary("CreateTask", { owner: "alice", kind: "k", label: "decide" }, as("worker"));
  const taskId: string = created.task.id;
  const { responses, call: c } = suite.t.grpc.serverStream("RequestConfirmation", { taskId, title: "Conflict", components: SURFACE, ...extra }, as("worker"));
  c.on("error", () => {});
  held.push(c);
  const it = (responses as AsyncIterable<RequestConfirmationResponse>)[Symbol.asyncIterator]();
  const first = (await it.next()).value as RequestConfirmationResponse;
  const cid = first.event.case === "pending" ? first.event.value.confirmation!.id : assert.fail("not pending");
  return {
    taskId,
    cid,
    async resolved() {
      const m = (await it.next()).value as RequestConfirmationResponse;
      return m.event.case === "resolved" ? m.event.value : assert.fail("not resolved");
    },
  };
}

const summary = (r: { ok?: unknown; err?: ReadableError }) => (r.err ? `${Code[r.err.code]} ${r.err.reason}` : "OK");

for (const listener of LISTENERS) {
  describe(`${listener}: answerers`, () => {
    it("the named answerer answers; another user of the same owner is refused; another owner's user sees NOT_FOUND", async () => {
      const c = await ask({ answerers: ["alice-ui"] });
      const answer = { confirmationId: c.cid, action: "replace", values: { new_name: "llama-3" } };
      assert.equal(summary(await call(listener, "alicePhone", "ResolveConfirmation", answer)), "PermissionDenied NOT_AN_ANSWERER");
      assert.equal(summary(await call(listener, "bob", "ResolveConfirmation", answer)), "NotFound CONFIRMATION_NOT_FOUND");
      assert.equal(summary(await call(listener, "gateway", "ResolveConfirmation", answer)), "PermissionDenied NOT_AN_ANSWERER");
      const task = await call(listener, "alicePhone", "GetTask", { taskId: c.taskId });
      assert.equal(task.ok.task.pendingConfirmation.state, ConfirmationState.PENDING, "still pending after the refusals");
      assert.deepEqual(task.ok.task.pendingConfirmation.answerers, ["alice-ui"], "the pending confirmation says who may answer");
      const ok = await call(listener, "alice", "ResolveConfirmation", answer);
      assert.equal(ok.ok.confirmation.answeredBy, "alice-ui");
      const r = await c.resolved();
      assert.deepEqual([r.outcome, r.action, r.values, r.answeredBy], [ConfirmationState.ANSWERED, "replace", { new_name: "llama-3", replace_existing: true }, "alice-ui"]);
    });

    it("role:gateway admits a gateway and not the owner's users; an admin may always answer", async () => {
      const c = await ask({ answerers: ["role:gateway"] });
      assert.equal(summary(await call(listener, "alice", "ResolveConfirmation", { confirmationId: c.cid, action: "cancel" })), "PermissionDenied NOT_AN_ANSWERER");
      assert.equal(summary(await call(listener, "gateway", "ResolveConfirmation", { confirmationId: c.cid, action: "cancel" })), "OK");
      assert.equal((await c.resolved()).answeredBy, "gateway-1");
      const d = await ask({ answerers: ["nobody-here"] });
      assert.equal(summary(await call(listener, "admin", "ResolveConfirmation", { confirmationId: d.cid, action: "cancel" })), "OK");
      assert.equal((await d.resolved()).answeredBy, "ops");
    });
  });

  describe(`${listener}: input rules and the safe retry`, () => {
    it("a field violation names values.<id> and leaves the confirmation pending; the fixed answer is taken once", async () => {
      const c = await ask();
      const bad = await call(listener, "alice", "ResolveConfirmation", { confirmationId: c.cid, action: "replace", values: { new_name: "Bad Name!" } });
      assert.deepEqual([bad.err?.code, bad.err?.fields], [Code.InvalidArgument, ["values.new_name"]]);
      const answer = { confirmationId: c.cid, action: "replace", values: { new_name: "good-name" } };
      assert.equal(summary(await call(listener, "alice", "ResolveConfirmation", answer)), "OK");
      assert.deepEqual((await c.resolved()).values, { new_name: "good-name", replace_existing: true });
      assert.equal(summary(await call(listener, "alice", "ResolveConfirmation", answer)), "OK", "the same answer again is a safe retry");
      assert.equal(summary(await call(listener, "alicePhone", "ResolveConfirmation", answer)), "FailedPrecondition ALREADY_RESOLVED");
      assert.equal(summary(await call(listener, "alice", "ResolveConfirmation", { ...answer, action: "cancel" })), "FailedPrecondition ALREADY_RESOLVED");
      const history = await call(listener, "alice", "ListTaskEvents", { taskId: c.taskId });
      const resolvedEvents = history.ok.events.filter((e: any) => e.event.case === "confirmationResolved");
      assert.equal(resolvedEvents.length, 1, "the retry made no event");
    });
  });

  describe(`${listener}: ListTaskEvents`, () => {
    it("is scoped like GetTask: the owner's users, workers, gateways see it; another owner's user gets NOT_FOUND; pages follow", async () => {
      const c = await ask();
      assert.equal(summary(await call(listener, "alice", "ResolveConfirmation", { confirmationId: c.cid, action: "cancel" })), "OK");
      await c.resolved();
      for (const who of ["alice", "alicePhone", "worker", "gateway", "admin"] as const) {
        assert.equal(summary(await call(listener, who, "ListTaskEvents", { taskId: c.taskId })), "OK", who);
      }
      assert.equal(summary(await call(listener, "bob", "ListTaskEvents", { taskId: c.taskId })), "NotFound TASK_NOT_FOUND");
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await call(listener, "alice", "ListTaskEvents", { taskId: c.taskId, pageSize: 2, pageToken });
        assert.ok(page.ok.events.length <= 2);
        seen.push(...page.ok.events.map((e: any) => e.event.case));
        pageToken = page.ok.nextPageToken;
      } while (pageToken);
      assert.deepEqual(seen, ["taskCreated", "confirmationRequested", "statusChanged", "confirmationResolved", "statusChanged"]);
    });
  });
}
