// The Node SDK's worker API against the real server (startTestServer: in process, gRPC on
// port 0, SQLite in memory): the seed semantics as a worker sees them, decisions, typed errors.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Builder, Button, Checkbox, connect, FailedPrecondition, InvalidArgument, NumberInput, Select, TaskNotFound, Text, type Client, type WatchTasksResponse } from "../../clients/node/src/index.js";
import { nextConfirmation, startTestServer, type TestServer } from "../../clients/node/src/testing.js";
import { trackLeaks } from "../support/leaks.js";

const leaks = trackLeaks();
let server: TestServer;
let client: Client;
let n = 0;
const owner = () => `sdk-worker-${++n}`;

before(async () => {
  server = await startTestServer();
  client = connect(server.address);
});
after(async () => {
  client.close();
  await server.close();
  await leaks.check();
});

/** `p`, marked handled so that a rejection before the test awaits it is not an unhandled one. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** The events of `owner` until `until` holds, from a watch started before `act` runs. */
async function eventsDuring(who: string, act: () => Promise<void>, until: (events: WatchTasksResponse[]) => boolean): Promise<WatchTasksResponse[]> {
  const events: WatchTasksResponse[] = [];
  const ac = new AbortController();
  const iterator = client.watch({ owner: who, includeSnapshot: true, signal: ac.signal })[Symbol.asyncIterator]();
  for (;;) {
    const { value } = await iterator.next();
    if (value?.event.case === "snapshotEnd") break;
  }
  await act();
  for (;;) {
    const { value, done } = await iterator.next();
    if (done) break;
    events.push(value);
    if (until(events)) break;
  }
  ac.abort();
  await iterator.return?.();
  return events;
}

describe("Node SDK: worker calls", { timeout: 60_000 }, () => {
  it("takes every address form taskctl takes", async () => {
    for (const address of [server.address, `http://${server.address}`, `http://${server.address}/`]) {
      const c = connect(address);
      try {
        const id = await c.tasks.create({ owner: owner(), label: "Installing" });
        assert.equal((await c.tasks.view(id)).label, "Installing");
      } finally {
        c.close();
      }
    }
    assert.throws(() => connect("127.0.0.1"), /host:port/);
  });

  it("create gives a running task at 0; view is a plain object; the same requestId is the same task", async () => {
    const who = owner();
    const id = await client.tasks.create({ owner: who, label: "Download", kind: "model.install", requestId: "r-1", checkpoint: { phase: "start" } });
    const again = await client.tasks.create({ owner: who, label: "Download", kind: "model.install", requestId: "r-1" });
    assert.equal(again, id);
    const view = await client.tasks.view(id);
    assert.deepEqual(
      { owner: view.owner, label: view.label, kind: view.kind, status: view.status, progress: view.progress, checkpoint: view.checkpoint },
      { owner: who, label: "Download", kind: "model.install", status: "running", progress: 0, checkpoint: { phase: "start" } },
    );
    assert.ok(view.createTime instanceof Date);
  });

  it("updateProgress clamps, replaces label and checkpoint when given and keeps them when not", async () => {
    const id = await client.tasks.create({ owner: owner(), label: "start" });
    await client.tasks.updateProgress(id, 0.4, { label: "Downloading source archive", checkpoint: { phase: "download", downloaded_bytes: 40 } });
    let view = await client.tasks.view(id);
    assert.deepEqual([view.progress, view.label, view.checkpoint], [0.4, "Downloading source archive", { phase: "download", downloaded_bytes: 40 }]);
    await client.tasks.updateProgress(id, 7);
    view = await client.tasks.view(id);
    assert.deepEqual([view.progress, view.label, view.checkpoint], [1, "Downloading source archive", { phase: "download", downloaded_bytes: 40 }]);
    await client.tasks.updateProgress(id, -Infinity);
    assert.equal((await client.tasks.view(id)).progress, 0);
  });

  it("updateProgress and emitProgress ignore an unknown task id, as the page says", async () => {
    const up = await client.tasks.updateProgress("t-no-such-task", 0.5, { label: "x" });
    const emit = await client.tasks.emitProgress("t-no-such-task", 0.5, { label: "x" });
    assert.deepEqual([up.found, emit.found], [false, false]);
  });

  it("emitProgress pushes a live line without storing it; omitted progress sends the stored one", async () => {
    const who = owner();
    const id = await client.tasks.create({ owner: who, label: "Installing engine dependencies" });
    await client.tasks.updateProgress(id, 0.6);
    const events = await eventsDuring(
      who,
      async () => {
        await client.tasks.emitProgress(id, undefined, { label: "install: Collecting torch" });
      },
      (es) => es.some((e) => e.event.case === "progress"),
    );
    const progress = events.find((e) => e.event.case === "progress")!;
    assert.equal(progress.event.case, "progress");
    if (progress.event.case !== "progress") return;
    assert.deepEqual([progress.event.value.persisted, progress.event.value.progress, progress.event.value.label], [false, 0.6, "install: Collecting torch"]);
    const view = await client.tasks.view(id);
    assert.deepEqual([view.label, view.revision], ["Installing engine dependencies", 2]);
  });

  it("requestConfirmation waits for the answer and returns { ok, action, values, outcome }", async () => {
    const who = owner();
    const id = await client.tasks.create({ owner: who });
    const builder = new client.ui.Builder({ title: "Replace?" })
      .add(client.ui.Text("confirm_text", "A model with the same name already exists. Replace it?"))
      .add(client.ui.TextInput("new_name", { label: "Or keep both under a new name" }))
      .add(client.ui.Checkbox("keep_backup", { label: "Keep a backup" }))
      .add(client.ui.Button("confirm_replace", { label: "Replace", action: "system.task.confirm_replace", style: "danger" }))
      .add(client.ui.Button("confirm_cancel", { label: "Cancel", action: "system.task.confirm_cancel" }));
    const decision = started(client.tasks.requestConfirmation(id, builder));
    const pending = await nextConfirmation(client, { taskId: id });
    assert.equal((await client.tasks.view(id)).status, "waiting_confirmation");
    assert.deepEqual(
      pending.components.map((c) => c.kind.case),
      ["text", "textInput", "checkbox", "button", "button"],
    );
    await client.resolveConfirmation(pending.id, { action: "system.task.confirm_replace", values: { keep_backup: true } });
    const d = await decision;
    assert.deepEqual(
      { ok: d.ok, action: d.action, values: d.values, outcome: d.outcome, defaulted: d.defaulted, confirmationId: d.confirmationId },
      { ok: true, action: "system.task.confirm_replace", values: { keep_backup: true }, outcome: "answered", defaulted: false, confirmationId: pending.id },
    );
    assert.equal((await client.tasks.view(id)).status, "running");
  });

  it("a decision that expires is ok: false, outcome expired", async () => {
    const id = await client.tasks.create({ owner: owner() });
    const d = await client.tasks.requestConfirmation(id, new Builder().add(Button("ok", { label: "OK", action: "ok" })), { timeoutMs: 200 });
    assert.deepEqual([d.ok, d.outcome, d.action], [false, "expired", ""]);
  });

  it("a decision whose task is cancelled is outcome cancelled and cancelRequested", async () => {
    const id = await client.tasks.create({ owner: owner() });
    const decision = started(client.tasks.requestConfirmation(id, new Builder().add(Button("ok", { label: "OK", action: "ok" }))));
    await nextConfirmation(client, { taskId: id });
    const cancelled = await client.cancel(id, "user closed the dialog");
    assert.deepEqual([cancelled.status, cancelled.cancelReason], ["cancelled", "user closed the dialog"]);
    const d = await decision;
    assert.deepEqual([d.ok, d.outcome, d.cancelRequested], [false, "cancelled", true]);
    const up = await client.tasks.updateProgress(id, 0.9);
    assert.deepEqual([up.found, up.applied, up.cancelRequested, up.status], [true, false, true, "cancelled"]);
  });

  it("button values, answeredBy and timeoutAction reach the decision", async () => {
    const id = await client.tasks.create({ owner: owner() });
    const builder = new Builder().add(
      Button("merge", { label: "Merge", action: "merge", value: { strategy: "merge" } }),
      Button("replace", { label: "Replace", action: "replace", value: { strategy: "replace" } }),
      NumberInput("copies", { label: "Copies", min: 1, max: 3 }),
      Select("target", { label: "Target", options: ["a", { value: "b", label: "B" }] }),
    );
    const decision = started(client.tasks.requestConfirmation(id, builder));
    const pending = await nextConfirmation(client, { taskId: id });
    await client.resolveConfirmation(pending.id, { action: "merge", values: { copies: 2, target: "b" } });
    const d = await decision;
    assert.deepEqual([d.ok, d.values, d.answeredBy], [true, { copies: 2, target: "b", strategy: "merge" }, "anonymous"]);

    const defaulted = await client.tasks.requestConfirmation(id, builder, { timeoutMs: 200, timeoutAction: "replace" });
    assert.deepEqual(
      [defaulted.ok, defaulted.outcome, defaulted.defaulted, defaulted.action, defaulted.values, defaulted.answeredBy],
      [false, "expired", true, "replace", { strategy: "replace" }, ""],
    );
  });

  it("errors are typed and carry the reason, metadata and bad fields", async () => {
    const id = await client.tasks.create({ owner: owner() });
    const nan = await client.tasks.updateProgress(id, Number.NaN).then(() => undefined, (e: unknown) => e);
    assert.ok(nan instanceof InvalidArgument);
    assert.deepEqual([nan.code, nan.reason, nan.fieldViolations.map((v) => v.field)], ["INVALID_ARGUMENT", "INVALID_ARGUMENT", ["progress"]]);

    const missing = await client.tasks.view("t-no-such-task").then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof TaskNotFound);
    assert.deepEqual([missing.code, missing.reason], ["NOT_FOUND", "TASK_NOT_FOUND"]);

    const noButton = await client.tasks.requestConfirmation(id, new Builder().add(Text("t", "hi"))).then(() => undefined, (e: unknown) => e);
    assert.ok(noButton instanceof InvalidArgument);
    assert.equal((await client.tasks.view(id)).status, "running", "a refused surface changed nothing");

    const yesNo = new Builder().add(Button("ok", { label: "OK", action: "ok" }), Button("no", { label: "No", action: "no" }));
    const decision = started(client.tasks.requestConfirmation(id, yesNo));
    const pending = await nextConfirmation(client, { taskId: id });
    await client.resolveConfirmation(pending.id, { action: "ok" });
    await decision;
    // The same answer again is a safe retry; a different one loses to the first.
    assert.equal((await client.resolveConfirmation(pending.id, { action: "ok" })).state, "answered");
    const twice = await client.resolveConfirmation(pending.id, { action: "no" }).then(() => undefined, (e: unknown) => e);
    assert.ok(twice instanceof FailedPrecondition);
    assert.deepEqual([twice.reason, twice.metadata["confirmation_state"]], ["ALREADY_RESOLVED", "CONFIRMATION_STATE_ANSWERED"]);

    await client.tasks.complete(id, { ok: true });
    const late = await client.tasks.fail(id, "too late").then(() => undefined, (e: unknown) => e);
    assert.ok(late instanceof FailedPrecondition);
    assert.equal(late.reason, "ILLEGAL_TRANSITION");
  });

  it("complete and fail end the task with its result or error", async () => {
    const a = await client.tasks.create({ owner: owner() });
    const done = await client.tasks.complete(a, { replaced: true });
    assert.deepEqual([done.status, done.progress, done.result], ["succeeded", 1, { replaced: true }]);
    const b = await client.tasks.create({ owner: owner() });
    const failed = await client.tasks.fail(b, "disk full", { free_bytes: 0 });
    assert.deepEqual([failed.status, failed.errorMessage, failed.errorDetails], ["failed", "disk full", { free_bytes: 0 }]);
  });

  it("list reads every page, filtered by owner and status", async () => {
    const who = owner();
    const ids = [];
    // Past the server's default page of 50, so a second page must be read.
    for (let i = 0; i < 55; i++) ids.push(await client.tasks.create({ owner: who, label: `t${i}` }));
    await client.tasks.complete(ids[1]!);
    assert.deepEqual((await client.tasks.list({ owner: who })).map((t) => t.id), [...ids].reverse());
    assert.deepEqual((await client.tasks.list({ owner: who, statuses: ["succeeded"] })).map((t) => t.id), [ids[1]]);
    await assert.rejects(client.tasks.list({ statuses: ["done" as never] }), RangeError);
  });

  it("Builder takes only components, and Button only known styles", () => {
    assert.throws(() => new Builder().add({ id: "x" } as never), TypeError);
    assert.throws(() => Button("b", { label: "B", action: "b", style: "loud" as never }), RangeError);
    assert.equal(Checkbox("c").kind.case, "checkbox");
  });
});
