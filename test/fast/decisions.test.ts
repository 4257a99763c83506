import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { collect, errorOf, type InProcessService, type ServiceClient, startInProcess } from "../support/in-process.js";
import type { ComponentInit, RequestConfirmationRequestInit } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import type { Principal } from "../../src/service/principal.js";
import type { RequestConfirmationResponse, RequestConfirmationResponse_Resolved } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Human decisions (issue 14), in process: button values merged into the answer, who may answer
 * and who did, field violations that leave the confirmation pending, the safe retry of an
 * answer, the timeout's default action (mock timers), and one task's history in pages.
 */

const leaks = trackLeaks();

const alice: Principal = { name: "alice-ui", role: "user", owner: "alice" };
const alicePhone: Principal = { name: "alice-phone", role: "user", owner: "alice" };
const bob: Principal = { name: "bob-ui", role: "user", owner: "bob" };
const gateway: Principal = { name: "gateway-1", role: "gateway" };

/** The reference page's conflict surface, with values on its buttons and a note to fill in. */
const CONFLICT: ComponentInit[] = [
  { id: "confirm_text", kind: { case: "text", value: { text: "A model with the same name already exists. Replace it?" } } },
  {
    id: "confirm_replace",
    kind: { case: "button", value: { label: "Replace", action: "system.task.confirm_replace", value: { replace_existing: true } } },
  },
  {
    id: "confirm_cancel",
    kind: { case: "button", value: { label: "Cancel", action: "system.task.confirm_cancel", value: { replace_existing: false } } },
  },
  { id: "new_name", kind: { case: "textInput", value: { label: "New name", maxLength: 16, pattern: "[a-z0-9-]+", patternDescription: "lower-case letters, digits and -" } } },
  { id: "workers", kind: { case: "numberInput", value: { label: "Workers", min: 1, max: 8, step: 1 } } },
  { id: "targets", kind: { case: "select", value: { label: "Targets", multiple: true, options: [{ value: "cpu" }, { value: "gpu" }] } } },
];

let s: InProcessService;
before(async () => {
  s = await startInProcess();
});
after(async () => {
  await s.close();
  await leaks.check();
});

const newTask = async (owner = "alice") => (await s.client.createTask({ owner, kind: "test", label: "start" })).task!;
const get = async (id: string) => (await s.client.getTask({ taskId: id })).task!;

function hold(request: RequestConfirmationRequestInit, client: ServiceClient = s.client) {
  return collect<RequestConfirmationResponse>((signal) => client.requestConfirmation(request, { signal }));
}
async function pendingOf(held: ReturnType<typeof hold>): Promise<string> {
  const [first] = await held.until((m) => m.length >= 1);
  return first!.event.case === "pending" ? first!.event.value.confirmation!.id : assert.fail("first message is not pending");
}
async function resolvedOf(held: ReturnType<typeof hold>): Promise<RequestConfirmationResponse_Resolved> {
  const m = await held.until((x) => x.length >= 2);
  return m[1]!.event.case === "resolved" ? m[1]!.event.value : assert.fail("second message is not resolved");
}
async function pendingConfirmation(request: Omit<RequestConfirmationRequestInit, "taskId" | "title"> = {}, owner = "alice") {
  const task = await newTask(owner);
  const held = hold({ taskId: task.id, title: "Conflict", components: CONFLICT, ...request } as RequestConfirmationRequestInit);
  return { task, held, cid: await pendingOf(held) };
}

describe("button values and answered_by", () => {
  it("merges the clicked button's value into the values the held call receives, with answered_by", async () => {
    const { task, held, cid } = await pendingConfirmation();
    const res = await s.as(alice).resolveConfirmation({
      confirmationId: cid,
      action: "system.task.confirm_replace",
      values: { new_name: "llama-2", workers: 4, targets: ["cpu", "gpu"] },
    });
    const merged = { new_name: "llama-2", workers: 4, targets: ["cpu", "gpu"], replace_existing: true };
    assert.deepEqual(res.confirmation!.values, merged);
    assert.equal(res.confirmation!.answeredBy, "alice-ui");
    assert.ok(res.confirmation!.answerTime, "answer_time is set");
    assert.equal(res.confirmation!.defaulted, false);
    const r = await resolvedOf(held);
    assert.deepEqual([r.outcome, r.action, r.values, r.answeredBy, r.defaulted], [ConfirmationState.ANSWERED, "system.task.confirm_replace", merged, "alice-ui", false]);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
  });

  it("with auth off the answerer is the fixed name anonymous", async () => {
    const { held, cid } = await pendingConfirmation();
    await s.client.resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" });
    const r = await resolvedOf(held);
    assert.deepEqual([r.answeredBy, r.values], ["anonymous", { replace_existing: false }]);
  });

  it("refuses a button value key equal to an input id at RequestConfirmation, storing nothing", async () => {
    const task = await newTask();
    const components: ComponentInit[] = [
      { id: "name", kind: { case: "textInput", value: {} } },
      { id: "go", kind: { case: "button", value: { label: "Go", action: "go", value: { name: "override" } } } },
    ];
    const err = await errorOf(async () => {
      for await (const _ of s.client.requestConfirmation({ taskId: task.id, title: "t", components })) break;
    });
    assert.deepEqual([err.code, err.fields], [Code.InvalidArgument, ["components[1].button.value"]]);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
  });
});

describe("input rules", () => {
  it("a bad answer gets a violation per field on values.<id>; the confirmation stays pending and a fixed answer is taken", async () => {
    const { task, held, cid } = await pendingConfirmation();
    const err = await errorOf(
      s.as(alice).resolveConfirmation({
        confirmationId: cid,
        action: "system.task.confirm_replace",
        values: { new_name: "Not OK!", workers: 9, targets: "cpu" },
      }),
    );
    assert.deepEqual([err.code, err.reason, err.fields], [Code.InvalidArgument, "INVALID_ARGUMENT", ["values.new_name", "values.workers", "values.targets"]]);
    assert.equal(held.messages.length, 1, "the held call is still waiting");
    assert.equal((await get(task.id)).pendingConfirmation!.state, ConfirmationState.PENDING);
    await s.as(alice).resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_replace", values: { new_name: "ok-now", workers: 2, targets: ["cpu"] } });
    assert.deepEqual((await resolvedOf(held)).values, { new_name: "ok-now", workers: 2, targets: ["cpu"], replace_existing: true });
  });

  it("an invalid pattern, an unknown timeout_action and a timeout_action without timeout are refused at RequestConfirmation", async () => {
    const task = await newTask();
    const ask = (extra: Partial<RequestConfirmationRequestInit>, components: ComponentInit[] = CONFLICT) =>
      errorOf(async () => {
        for await (const _ of s.client.requestConfirmation({ taskId: task.id, title: "t", components, ...extra } as RequestConfirmationRequestInit)) break;
      });
    const badPattern: ComponentInit[] = [CONFLICT[1]!, { id: "n", kind: { case: "textInput", value: { pattern: "(a)\\1" } } }];
    assert.deepEqual((await ask({}, badPattern)).fields, ["components[1].text_input.pattern"]);
    assert.deepEqual((await ask({ timeoutAction: "system.task.nope", timeout: { seconds: 5n } })).fields, ["timeout_action"]);
    assert.deepEqual((await ask({ timeoutAction: "system.task.confirm_cancel" })).fields, ["timeout_action"]);
    assert.deepEqual((await ask({ answerers: ["role:boss"] })).fields, ["answerers[0]"]);
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING, "nothing stored");
  });
});

describe("answerers", () => {
  it("a named answerer may answer; another user of the owner is PERMISSION_DENIED NOT_AN_ANSWERER; another owner NOT_FOUND", async () => {
    const { held, cid } = await pendingConfirmation({ answerers: ["alice-ui"] });
    const phone = await errorOf(s.as(alicePhone).resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" }));
    assert.deepEqual([phone.code, phone.reason, phone.metadata.confirmation_id], [Code.PermissionDenied, "NOT_AN_ANSWERER", cid]);
    const other = await errorOf(s.as(bob).resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" }));
    assert.deepEqual([other.code, other.reason], [Code.NotFound, "CONFIRMATION_NOT_FOUND"]);
    const gw = await errorOf(s.as(gateway).resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" }));
    assert.equal(gw.reason, "NOT_AN_ANSWERER", "a gateway is not named either");
    assert.equal(held.messages.length, 1, "still pending");
    await s.as(alice).resolveConfirmation({ confirmationId: cid, action: "system.task.confirm_cancel" });
    assert.equal((await resolvedOf(held)).answeredBy, "alice-ui");
  });

  it("role:<role> admits that role; admins may always answer", async () => {
    const byRole = await pendingConfirmation({ answerers: ["role:gateway"] });
    assert.equal((await errorOf(s.as(alice).resolveConfirmation({ confirmationId: byRole.cid, action: "system.task.confirm_cancel" }))).reason, "NOT_AN_ANSWERER");
    await s.as(gateway).resolveConfirmation({ confirmationId: byRole.cid, action: "system.task.confirm_cancel" });
    assert.equal((await resolvedOf(byRole.held)).answeredBy, "gateway-1");
    const admin = await pendingConfirmation({ answerers: ["somebody-else"] });
    await s.as({ name: "ops", role: "admin" }).resolveConfirmation({ confirmationId: admin.cid, action: "system.task.confirm_cancel" });
    assert.equal((await resolvedOf(admin.held)).answeredBy, "ops");
  });

  it("the pending confirmation says who may answer", async () => {
    const { task } = await pendingConfirmation({ answerers: ["alice-ui", "role:gateway"] });
    assert.deepEqual((await get(task.id)).pendingConfirmation!.answerers, ["alice-ui", "role:gateway"]);
  });
});

describe("the safe retry of an answer", () => {
  it("the same answer by the same principal is OK with no new event; anything else is ALREADY_RESOLVED", async () => {
    const { task, cid } = await pendingConfirmation();
    const answer = { confirmationId: cid, action: "system.task.confirm_replace", values: { workers: 3, new_name: "a" } };
    const first = await s.as(alice).resolveConfirmation(answer);
    const seq = s.store.lastSequence();
    const revision = (await get(task.id)).revision;
    const again = await s.as(alice).resolveConfirmation({ ...answer, values: { new_name: "a", workers: 3 } });
    assert.deepEqual(again.confirmation, first.confirmation);
    assert.equal(s.store.lastSequence(), seq, "no new event");
    for (const [who, change] of [
      [alicePhone, {}],
      [alice, { action: "system.task.confirm_cancel" }],
      [alice, { values: { workers: 4, new_name: "a" } }],
    ] as const) {
      const err = await errorOf(s.as(who).resolveConfirmation({ ...answer, ...change }));
      assert.deepEqual([err.code, err.reason, err.metadata.confirmation_state], [Code.FailedPrecondition, "ALREADY_RESOLVED", "CONFIRMATION_STATE_ANSWERED"]);
    }
    assert.equal((await get(task.id)).revision, revision, "the task did not change");
    assert.equal(s.store.lastSequence(), seq);
  });
});

describe("timeout_action (mock timers)", { timeout: 10_000 }, () => {
  it("at the timeout the confirmation ends EXPIRED with that action, its button's value and defaulted", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const { task, held, cid } = await pendingConfirmation({ timeout: { seconds: 30n }, timeoutAction: "system.task.confirm_cancel" });
    t.mock.timers.tick(30_000);
    const r = await resolvedOf(held);
    assert.deepEqual(
      [r.confirmationId, r.outcome, r.action, r.values, r.defaulted, r.answeredBy],
      [cid, ConfirmationState.EXPIRED, "system.task.confirm_cancel", { replace_existing: false }, true, ""],
    );
    const history = await s.client.listTaskEvents({ taskId: task.id });
    const ended = history.events.flatMap((e) => (e.event.case === "confirmationResolved" ? [e.event.value.confirmation!] : []));
    assert.equal(ended.length, 1);
    assert.deepEqual([ended[0]!.state, ended[0]!.defaulted, ended[0]!.action], [ConfirmationState.EXPIRED, true, "system.task.confirm_cancel"]);
    assert.equal(timestampMs(ended[0]!.answerTime!), timestampMs(ended[0]!.resolveTime!));
    assert.equal((await get(task.id)).status, TaskStatus.RUNNING);
  });

  it("without timeout_action the timeout ends it EXPIRED with no action and no default", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
    const { held } = await pendingConfirmation({ timeout: { seconds: 5n } });
    t.mock.timers.tick(5_000);
    const r = await resolvedOf(held);
    assert.deepEqual([r.outcome, r.action, r.defaulted], [ConfirmationState.EXPIRED, "", false]);
  });
});

describe("ListTaskEvents", () => {
  it("pages through one task's persisted history in sequence order, and only that task's", async () => {
    const task = await newTask();
    const noise = await newTask();
    for (let i = 1; i <= 7; i++) {
      await s.client.updateProgress({ taskId: task.id, progress: i / 10, label: `step ${i}` });
      await s.client.updateProgress({ taskId: noise.id, progress: i / 10 });
    }
    await s.client.emitProgress({ taskId: task.id, label: "live only" });
    await s.client.completeTask({ taskId: task.id });
    const pages: string[][] = [];
    const sequences: bigint[] = [];
    let pageToken = "";
    do {
      const res = await s.as(alice).listTaskEvents({ taskId: task.id, pageSize: 4, pageToken });
      pages.push(res.events.map((e) => e.event.case ?? ""));
      for (const e of res.events) {
        sequences.push(e.sequence);
        const about = e.event.case === "progress" ? e.event.value.taskId : (e.event.value as { task?: { id: string } }).task?.id;
        assert.equal(about, task.id);
      }
      pageToken = res.nextPageToken;
    } while (pageToken);
    assert.deepEqual(pages, [
      ["taskCreated", "progress", "progress", "progress"],
      ["progress", "progress", "progress", "progress"],
      ["statusChanged"],
    ]);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => (a < b ? -1 : 1)), "in sequence order");
    const labels = (await s.client.listTaskEvents({ taskId: task.id })).events.flatMap((e) => (e.event.case === "progress" ? [e.event.value.label] : []));
    assert.deepEqual(labels, [1, 2, 3, 4, 5, 6, 7].map((i) => `step ${i}`), "no live line in the history");
  });

  it("is scoped like GetTask: another owner's task, or an unknown one, is NOT_FOUND; a bad token INVALID_ARGUMENT", async () => {
    const task = await newTask();
    for (const call of [
      () => s.as(bob).listTaskEvents({ taskId: task.id }),
      () => s.client.listTaskEvents({ taskId: "t-nope" }),
      () => s.client.listTaskEvents({ taskId: "bad id!" }),
    ]) {
      const err = await errorOf(call);
      assert.deepEqual([err.code, err.reason], [Code.NotFound, "TASK_NOT_FOUND"]);
    }
    const other = await newTask();
    await s.client.updateProgress({ taskId: other.id, progress: 0.5 });
    const { nextPageToken } = await s.client.listTaskEvents({ taskId: other.id, pageSize: 1 });
    assert.ok(nextPageToken);
    for (const pageToken of ["%%%", Buffer.from("[1]").toString("base64url"), nextPageToken]) {
      const err = await errorOf(s.client.listTaskEvents({ taskId: task.id, pageToken }));
      assert.deepEqual([err.code, err.fields], [Code.InvalidArgument, ["page_token"]], pageToken);
    }
    assert.deepEqual(s.unexpected, []);
  });
});
