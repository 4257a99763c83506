import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { collect, errorOf, type InProcessService, type ServiceClient, startInProcess } from "../support/in-process.js";
import { trackLeaks } from "../support/leaks.js";
import { REPLACE_SURFACE } from "../support/flows.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  RequestConfirmationRequestSchema,
  RequestConfirmationResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * RequestConfirmation / ResolveConfirmation as the seed page defines them, in process.
 * Expiry runs on node:test mock timers: the manager's timer is a setTimeout and both the
 * manager and the store read Date.now, so ticking the mock clock is the timeout elapsing.
 */

const leaks = trackLeaks();
let s: InProcessService;
before(async () => {
  s = await startInProcess();
});
after(async () => {
  await s.close();
  await leaks.check();
});

type Request = MessageInitShape<typeof RequestConfirmationRequestSchema>;
const newTask = async (owner = "alice") => (await s.client.createTask({ owner, kind: "test", label: "start" })).task!;
const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;

/** A held RequestConfirmation call. */
function hold(request: Request, client: ServiceClient = s.client) {
  return collect<RequestConfirmationResponse>((signal) => client.requestConfirmation(request, { signal }));
}
async function pendingOf(held: ReturnType<typeof hold>): Promise<string> {
  const [first] = await held.until((m) => m.length >= 1);
  assert.equal(first!.event.case, "pending");
  return first!.event.case === "pending" ? first!.event.value.confirmation!.id : "";
}
/** The error a refused RequestConfirmation ends with. */
const refused = (request: Request) =>
  errorOf(async () => {
    throw (await hold(request).ended()) ?? new Error("the call ended without an error");
  });
const resolvedOf = async (held: ReturnType<typeof hold>) => {
  const m = await held.until((x) => x.length >= 2);
  assert.equal(await held.ended(), undefined, "the held call ends cleanly after resolved");
  assert.equal(m.length, 2);
  return m[1]!.event.case === "resolved" ? m[1]!.event.value : assert.fail(`second message is ${m[1]!.event.case}`);
};

describe("RequestConfirmation", { timeout: 10_000 }, () => {
  it("holds the call: pending first, the task waits, watchers are told", async () => {
    const task = await newTask("asker");
    const ui = collect((signal) => s.client.watchTasks({ owner: "asker" }, { signal }));
    const held = hold({ taskId: task.id, title: "Replace?", components: REPLACE_SURFACE });
    const cid = await pendingOf(held);
    const now = await get(task.id);
    assert.equal(now.status, TaskStatus.WAITING_CONFIRMATION);
    assert.deepEqual([now.pendingConfirmation?.id, now.pendingConfirmation?.state], [cid, ConfirmationState.PENDING]);
    const [requested] = await ui.until((m) => m.some((x) => x.event.case === "confirmationRequested"));
    assert.ok(requested!.event.case === "confirmationRequested" && requested!.event.value.confirmation!.id === cid);
    assert.equal(held.messages.length, 1, "held open until answered");
    await s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" });
    const r = await resolvedOf(held);
    assert.deepEqual([r.confirmationId, r.outcome, r.action], [cid, ConfirmationState.ANSWERED, "system.task.confirm_replace"]);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
    const seen = await ui.until((m) => m.filter((x) => x.event.case === "statusChanged").length === 2);
    const statuses = seen.flatMap((x) => (x.event.case === "statusChanged" ? [x.event.value.task!.status] : []));
    assert.deepEqual(statuses, [TaskStatus.WAITING_CONFIRMATION, TaskStatus.RUNNING]);
    assert.ok(seen.some((x) => x.event.case === "confirmationResolved" && x.event.value.confirmation!.id === cid));
    await ui.cancel();
  });

  it("refuses an unknown task, a finished task and a second pending confirmation; the same request_id re-attaches", async () => {
    const unknown = await refused({ taskId: "t-nope", title: "t", components: REPLACE_SURFACE });
    assert.deepEqual([unknown.code, unknown.reason], [Code.NotFound, "TASK_NOT_FOUND"]);
    const done = await newTask();
    await s.client.completeTask({ taskId: done.id });
    const finished = await refused({ taskId: done.id, title: "t", components: REPLACE_SURFACE });
    assert.deepEqual([finished.code, finished.reason, finished.metadata.task_status], [Code.FailedPrecondition, "ILLEGAL_TRANSITION", "TASK_STATUS_SUCCEEDED"]);

    const task = await newTask();
    const first = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-1" });
    const cid = await pendingOf(first);
    const second = await refused({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-2" });
    assert.deepEqual([second.code, second.reason, second.metadata.confirmation_id], [Code.FailedPrecondition, "CONFIRMATION_PENDING", cid]);
    const again = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, requestId: "rq-1" });
    assert.equal(await pendingOf(again), cid, "re-attached");
    await s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" });
    assert.equal((await resolvedOf(first)).action, "system.task.confirm_cancel");
    assert.equal((await resolvedOf(again)).action, "system.task.confirm_cancel", "every held call gets the answer once");
  });

  it("validates components: unique non-empty ids and at least one button", async () => {
    const task = await newTask();
    const text = { id: "t", kind: { case: "text" as const, value: { text: "hi" } } };
    for (const [components, field] of [
      [[text], "components"],
      [[...REPLACE_SURFACE, { ...REPLACE_SURFACE[1] }], "components[3].id"],
      [[{ ...text, id: "" }, ...REPLACE_SURFACE.slice(1)], "components[0].id"],
    ] satisfies [Request["components"], string][]) {
      const err = await refused({ taskId: task.id, title: "t", components });
      assert.deepEqual([err.code, err.reason], [Code.InvalidArgument, "INVALID_ARGUMENT"], JSON.stringify(components));
      assert.ok(err.fields.includes(field), `${field} in ${JSON.stringify(err.fields)}`);
    }
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING, "nothing stored");
  });
});

describe("ResolveConfirmation", { timeout: 10_000 }, () => {
  const SURFACE: Request["components"] = [
    { id: "name", kind: { case: "textInput", value: { label: "Name", required: true } } },
    { id: "ok", kind: { case: "button", value: { label: "OK", action: "go" } } },
  ];

  it("checks the action, the value keys and required inputs; the first answer wins", async () => {
    const task = await newTask();
    const held = hold({ taskId: task.id, title: "Name it", components: SURFACE });
    const cid = await pendingOf(held);
    const wrongAction = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "nope", values: { name: "x" } }));
    assert.deepEqual([wrongAction.code, wrongAction.fields], [Code.InvalidArgument, ["action"]]);
    const unknownKey = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "x", other: 1 } }));
    assert.deepEqual([unknownKey.code, unknownKey.fields], [Code.InvalidArgument, ["values.other"]]);
    const missing = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go" }));
    assert.deepEqual([missing.code, missing.fields], [Code.InvalidArgument, ["values.name"]]);
    assert.equal(held.messages.length, 1, "a refused answer resolves nothing");

    const answer = await s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "model-a" } });
    assert.equal(answer.confirmation!.state, ConfirmationState.ANSWERED);
    const second = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "go", values: { name: "b" } }));
    assert.deepEqual([second.code, second.reason, second.metadata.confirmation_state], [Code.FailedPrecondition, "ALREADY_RESOLVED", "CONFIRMATION_STATE_ANSWERED"]);
    const r = await resolvedOf(held);
    assert.deepEqual(r.values, { name: "model-a" }, "the first answer is the one delivered");
    const unknown = await errorOf(s.client.resolveConfirmation({ confirmationId: "c-nope", action: "go" }));
    assert.deepEqual([unknown.code, unknown.reason], [Code.NotFound, "CONFIRMATION_NOT_FOUND"]);
  });

  it("ends a pending confirmation CANCELLED when its task is cancelled", async () => {
    const task = await newTask();
    const held = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE });
    const cid = await pendingOf(held);
    await s.client.cancelTask({ taskId: task.id, reason: "user" });
    const r = await resolvedOf(held);
    assert.deepEqual([r.confirmationId, r.outcome, r.cancelRequested], [cid, ConfirmationState.CANCELLED, true]);
    assert.equal((await get(task.id)).status, TaskStatus.CANCELLED);
  });
});

describe("expiry (mock timers)", { timeout: 10_000 }, () => {
  it("ends the confirmation EXPIRED exactly at its timeout; the task resumes and watchers are told", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const task = await newTask("expiring");
    const other = await newTask("expiring-barrier");
    const ui = collect((signal) => s.client.watchTasks({ owner: "expiring" }, { signal }));
    const held = hold({ taskId: task.id, title: "quick", components: REPLACE_SURFACE, timeout: { seconds: 400n, nanos: 0 } });
    const cid = await pendingOf(held);
    await ui.until((m) => m.some((x) => x.event.case === "confirmationRequested"));
    t.mock.timers.tick(399_999);
    // A write queued after anything the tick set off: once it is committed, so is an expiry
    // (one writer, one connection, in order).
    await s.client.updateProgress({ taskId: other.id, progress: 0.5 });
    assert.equal((await get(task.id)).status, TaskStatus.WAITING_CONFIRMATION, "not expired 1 ms early");
    assert.equal(held.messages.length, 1);
    t.mock.timers.tick(1);
    const r = await resolvedOf(held);
    assert.deepEqual([r.confirmationId, r.outcome], [cid, ConfirmationState.EXPIRED]);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
    const m = await ui.until((x) => x.some((e) => e.event.case === "confirmationResolved"));
    const resolved = m.find((x) => x.event.case === "confirmationResolved")!;
    assert.ok(resolved.event.case === "confirmationResolved");
    assert.equal(resolved.event.value.confirmation!.state, ConfirmationState.EXPIRED);
    await ui.cancel();
  });

  it("a late answer to an expired confirmation is ALREADY_RESOLVED", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const task = await newTask();
    const held = hold({ taskId: task.id, title: "t", components: REPLACE_SURFACE, timeout: { seconds: 1n, nanos: 0 } });
    const cid = await pendingOf(held);
    t.mock.timers.tick(1000);
    assert.equal((await resolvedOf(held)).outcome, ConfirmationState.EXPIRED);
    const late = await errorOf(s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace" }));
    assert.deepEqual([late.reason, late.metadata.confirmation_state], ["ALREADY_RESOLVED", "CONFIRMATION_STATE_EXPIRED"]);
  });
});
