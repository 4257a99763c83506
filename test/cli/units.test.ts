// Unit tests of what taskctl and the web monitor share: the reconnecting watch loop (over an
// in-memory router transport), task state from events, and taskctl's parsing and rendering.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  TaskControlService,
  WatchTasksResponseSchema,
  type WatchTasksRequest,
  type WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import {
  ComponentSchema,
  ConfirmationSchema,
  ConfirmationState,
  TaskSchema,
  TaskStatus,
  type Task,
} from "../../gen/taskcontrol/v1/task_pb.js";
import { TaskState, percent } from "../../src/client/task-state.js";
import { startWatchLoop, type WatchState } from "../../src/client/watch-loop.js";
import { parseStatuses, parseValues } from "../../src/cli/args.js";
import { parseInvocation } from "../../src/cli/taskctl.js";
import { listHeader, listLayout, listRow, progressBar, taskLine, truncate, watchLayout } from "../../src/cli/render.js";
import { UsageError } from "../../src/cli/io.js";

const task = (id: string, fields: MessageInitShape<typeof TaskSchema> = {}): Task =>
  create(TaskSchema, { id, owner: "o", label: id, status: TaskStatus.RUNNING, revision: 1n, createTime: timestampFromMs(1000), ...fields });
const ev = (sequence: bigint, event: MessageInitShape<typeof WatchTasksResponseSchema>["event"]): WatchTasksResponse =>
  create(WatchTasksResponseSchema, { sequence, event });

describe("watch loop", () => {
  test("resumes after a drop with after_sequence = last seen, and re-snapshots after OUT_OF_RANGE", async () => {
    const requests: WatchTasksRequest[] = [];
    const transport = createRouterTransport(({ service }) => {
      service(TaskControlService, {
        async *watchTasks(req) {
          requests.push(req);
          const n = requests.length;
          if (n === 1) {
            yield ev(5n, { case: "snapshot", value: { task: task("a") } });
            yield ev(5n, { case: "snapshotEnd", value: {} });
            yield ev(6n, { case: "progress", value: { taskId: "a", progress: 0.5, label: "half", persisted: true } });
            yield ev(6n, { case: "progress", value: { taskId: "a", progress: 0.6, label: "live", persisted: false } });
            throw new ConnectError("server going away", Code.Unavailable);
          }
          if (n === 2) throw new ConnectError("history gone", Code.OutOfRange);
          if (n === 3) {
            yield ev(9n, { case: "snapshotEnd", value: {} });
            throw new ConnectError("again", Code.Unavailable);
          }
          yield ev(10n, { case: "bookmark", value: {} });
          await new Promise(() => undefined);
        },
      });
    });
    const states: WatchState[] = [];
    let resyncs = 0;
    const events: WatchTasksResponse[] = [];
    const loop = startWatchLoop({
      client: createClient(TaskControlService, transport),
      owner: "o",
      initialBackoffMs: 5,
      random: () => 0,
      onEvent: (e) => events.push(e),
      onResync: () => {
        resyncs += 1;
      },
      onState: (s) => states.push(s),
    });
    for (let i = 0; i < 200 && requests.length < 4; i += 1) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 200 && loop.lastSequence() !== 10n; i += 1) await new Promise((r) => setTimeout(r, 10));
    loop.stop();
    await loop.done;
    assert.equal(requests.length, 4);
    assert.equal(requests[0]!.includeSnapshot, true);
    assert.equal(requests[0]!.afterSequence, undefined);
    assert.equal(requests[0]!.owner, "o");
    assert.equal(requests[1]!.includeSnapshot, false);
    assert.equal(requests[1]!.afterSequence, 6n, "resumes after the last persisted sequence seen");
    assert.equal(requests[2]!.includeSnapshot, true, "OUT_OF_RANGE starts over with a snapshot");
    assert.equal(requests[3]!.afterSequence, 9n);
    assert.equal(resyncs, 2);
    assert.equal(loop.lastSequence(), 10n);
    assert.ok(states.some((s) => s.kind === "reconnecting" && s.attempt === 1));
    assert.equal(states.at(-1)!.kind, "stopped");
    assert.ok(states.some((s) => s.kind === "live" && s.resumed));
  });

  test("a drop during the snapshot restarts the snapshot instead of resuming from it", async () => {
    const requests: WatchTasksRequest[] = [];
    const transport = createRouterTransport(({ service }) => {
      service(TaskControlService, {
        async *watchTasks(req) {
          requests.push(req);
          if (requests.length === 1) {
            yield ev(7n, { case: "snapshot", value: { task: task("a") } });
            throw new ConnectError("cut", Code.Unavailable);
          }
          await new Promise(() => undefined);
        },
      });
    });
    const loop = startWatchLoop({
      client: createClient(TaskControlService, transport),
      initialBackoffMs: 1,
      onEvent: () => undefined,
    });
    for (let i = 0; i < 200 && requests.length < 2; i += 1) await new Promise((r) => setTimeout(r, 10));
    loop.stop();
    await loop.done;
    assert.equal(requests[1]!.includeSnapshot, true);
    assert.equal(requests[1]!.afterSequence, undefined);
  });

  test("UNAUTHENTICATED parks the loop until restart()", async () => {
    let calls = 0;
    const transport = createRouterTransport(({ service }) => {
      service(TaskControlService, {
        async *watchTasks() {
          calls += 1;
          throw new ConnectError("no token", Code.Unauthenticated);
        },
      });
    });
    const states: string[] = [];
    const loop = startWatchLoop({
      client: createClient(TaskControlService, transport),
      initialBackoffMs: 1,
      onEvent: () => undefined,
      onState: (s) => states.push(s.kind),
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 1, "no retry storm without a token");
    assert.equal(states.at(-1), "unauthenticated");
    loop.restart();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 2);
    loop.stop();
    await loop.done;
  });
});

describe("task state", () => {
  test("persisted progress updates the task; live progress only the live line and bar", () => {
    const s = new TaskState();
    s.apply(ev(1n, { case: "snapshot", value: { task: task("a", { progress: 0.1, label: "start" }) } }));
    s.apply(ev(2n, { case: "progress", value: { taskId: "a", progress: 0.4, label: "step 4", persisted: true, checkpoint: { k: 1 } } }));
    s.apply(ev(2n, { case: "progress", value: { taskId: "a", progress: 0.45, label: "pip: Collecting torch", persisted: false } }));
    const e = s.entries.get("a")!;
    assert.equal(e.task.label, "step 4");
    assert.equal(e.task.progress, 0.4);
    assert.deepEqual(e.task.checkpoint, { k: 1 });
    assert.equal(e.liveLine, "pip: Collecting torch");
    assert.equal(e.shownProgress, 0.45);
    assert.deepEqual(s.apply(ev(2n, { case: "progress", value: { taskId: "zz", persisted: false } })), { kind: "unknownTask", taskId: "zz" });
  });

  test("confirmations: requested → waiting (kept across a status_changed without it), resolved → running", () => {
    const s = new TaskState();
    s.upsert(task("a"));
    const c = create(ConfirmationSchema, { id: "c1", taskId: "a", title: "Replace?", state: ConfirmationState.PENDING });
    assert.equal(s.apply(ev(2n, { case: "confirmationRequested", value: { confirmation: c } })).kind, "confirmationRequested");
    s.apply(ev(3n, { case: "statusChanged", value: { task: task("a", { status: TaskStatus.WAITING_CONFIRMATION, revision: 2n }) } }));
    assert.equal(s.entries.get("a")!.task.pendingConfirmation?.id, "c1");
    assert.equal(s.entries.get("a")!.task.status, TaskStatus.WAITING_CONFIRMATION);
    const done = create(ConfirmationSchema, { id: "c1", taskId: "a", state: ConfirmationState.ANSWERED, action: "replace" });
    s.apply(ev(4n, { case: "confirmationResolved", value: { confirmation: done } }));
    assert.equal(s.entries.get("a")!.task.pendingConfirmation, undefined);
    assert.equal(s.entries.get("a")!.task.status, TaskStatus.RUNNING);
  });

  test("a ListTasks page never overwrites newer state from the stream", () => {
    const s = new TaskState();
    s.upsert(task("a", { revision: 3n, label: "from stream" }));
    s.apply(ev(9n, { case: "progress", value: { taskId: "a", progress: 0.9, label: "newer", persisted: true } }));
    assert.equal(s.upsert(task("a", { revision: 4n, label: "stale page" }), true).kind, "none");
    assert.equal(s.entries.get("a")!.task.label, "newer");
    assert.equal(s.upsert(task("a", { revision: 6n, label: "newer page" }), true).kind, "upserted");
    assert.deepEqual(s.sorted().map((e) => e.task.id), ["a"]);
  });

  test("newest first", () => {
    const s = new TaskState();
    s.upsert(task("old", { createTime: timestampFromMs(1) }));
    s.upsert(task("new", { createTime: timestampFromMs(2) }));
    assert.deepEqual(s.sorted().map((e) => e.task.id), ["new", "old"]);
  });
});

describe("taskctl parsing and rendering", () => {
  test("--value: strings, JSON with :=, checkbox booleans when the surface is known", () => {
    assert.deepEqual(parseValues(["name=llama", "n:=3", "flags:={\"a\":true}"]), { name: "llama", n: 3, flags: { a: true } });
    const surface = create(ConfirmationSchema, {
      id: "c",
      components: [
        create(ComponentSchema, { id: "backup", kind: { case: "checkbox", value: {} } }),
        create(ComponentSchema, { id: "name", kind: { case: "textInput", value: {} } }),
        create(ComponentSchema, { id: "go", kind: { case: "button", value: { action: "go" } } }),
      ],
    });
    assert.deepEqual(parseValues(["backup=yes", "name=true"], surface), { backup: true, name: "true" });
    assert.throws(() => parseValues(["backup=maybe"], surface), UsageError);
    assert.throws(() => parseValues(["go=1"], surface), /not an input.*backup, name/);
    assert.throws(() => parseValues(["novalue"]), UsageError);
  });

  test("statuses and command lines", () => {
    assert.deepEqual(parseStatuses(["running,waiting", "TASK_STATUS_SUCCEEDED"]), [
      TaskStatus.RUNNING,
      TaskStatus.WAITING_CONFIRMATION,
      TaskStatus.SUCCEEDED,
    ]);
    assert.throws(() => parseStatuses(["sleeping"]), UsageError);
    const inv = parseInvocation(["--json", "confirm", "c1", "--action", "replace", "--value", "a=1", "--value", "b=2"]);
    assert.ok(!("help" in inv));
    assert.equal(inv.command, "confirm");
    assert.deepEqual(inv.args, ["c1"]);
    assert.deepEqual(inv.options["value"], ["a=1", "b=2"]);
    assert.equal(inv.json, true);
    const help = parseInvocation(["--help"]);
    assert.ok("help" in help);
    assert.match(help.help, /--server <url>.*\n[\s\S]*watch \[options\]/);
    const getHelp = parseInvocation(["get", "--help"]);
    assert.ok("help" in getHelp && /taskctl get \[options\] <task-id>[\s\S]*--server/.test(getHelp.help));
    assert.throws(() => parseInvocation(["get"]), /missing required argument 'task-id'/);
    assert.throws(() => parseInvocation(["get", "a", "b"]), /too many arguments/);
    assert.throws(() => parseInvocation(["list", "--bogus"]), UsageError);
    assert.throws(() => parseInvocation(["lst"]), /unknown command 'lst' \(Did you mean list\?\)/);
    assert.throws(() => parseInvocation([]), /missing command/);
  });

  test("global options work before or after the command", () => {
    for (const argv of [
      ["--server", "h:1", "--token", "T", "get", "ID"],
      ["get", "--server", "h:1", "ID", "--token", "T"],
      ["--token", "T", "get", "ID", "--server", "h:1"],
    ]) {
      const inv = parseInvocation(argv);
      assert.ok(!("help" in inv), argv.join(" "));
      assert.equal(inv.command, "get");
      assert.deepEqual(inv.args, ["ID"]);
      assert.equal(inv.options["server"], "h:1");
      assert.equal(inv.options["token"], "T");
    }
    const list = parseInvocation(["--json", "--server", "h:1", "list", "--status", "running", "--status", "failed,waiting"]);
    assert.ok(!("help" in list));
    assert.equal(list.json, true);
    assert.deepEqual(list.options["status"], ["running", "failed,waiting"]);
    const demo = parseInvocation(["demo", "--step-ms", "30"]);
    assert.ok(!("help" in demo));
    assert.equal(demo.options["stepMs"], "30");
  });

  test("bars and task lines", () => {
    assert.equal(progressBar(0.5, 10), "█████░░░░░");
    assert.equal(progressBar(2, 4), "████");
    assert.equal(percent(0.999), 99);
    assert.equal(percent(Number.NaN), 0);
    assert.equal(truncate("abcdef", 4), "abc…");
    const line = taskLine({ task: task("t-0123456789abcdef", { label: "Processing step 3/10..." }), shownProgress: 0.3, liveLine: "pip: x", liveTime: undefined }, 100);
    assert.match(line, /^t-01234567 o\s+██████░{14}\s+30%\s+running\s+Processing step 3\/10\.\.\.\s+› pip: x$/);
    // Finished: no live line any more; a failure says why instead.
    const failed = task("t-f", { label: "Import", status: TaskStatus.FAILED, errorMessage: "disk full" });
    assert.doesNotMatch(taskLine({ task: failed, shownProgress: 0.3, liveLine: "pip: x", liveTime: undefined }, 100), /pip: x/);
    assert.match(taskLine({ task: failed, shownProgress: 0.3, liveLine: "pip: x", liveTime: undefined }, 100), /failed\s+Import  \(disk full\)$/);
    // A terminal wide enough shows whole ids.
    const long = task(`t-${"a".repeat(36)}`, { owner: "alice" });
    const wide = [{ task: long, shownProgress: 0, liveLine: "", liveTime: undefined }];
    assert.equal(watchLayout(wide, 160).idWidth, 38);
    assert.equal(watchLayout(wide, 100).idWidth, 10);
    assert.ok(taskLine({ task: task("a", { label: "x".repeat(300) }), shownProgress: 0, liveLine: "", liveTime: undefined }, 60).length <= 60);
  });

  test("list rows: whole ids, aligned columns, the label cut to the terminal", () => {
    const tasks = [task(`t-${"b".repeat(36)}`, { owner: "alice", label: "y".repeat(200) }), task(`t-${"c".repeat(36)}`, { owner: "bob", label: "short" })];
    const layout = listLayout(tasks, 100);
    const rows = [listHeader(layout), ...tasks.map((t) => listRow(t, layout))];
    for (const r of rows) assert.ok(r.length <= 100, r);
    assert.ok(rows[1]!.startsWith(`t-${"b".repeat(36)} running`), "the id is whole and followed by a space");
    assert.equal(rows[0]!.indexOf("STATUS"), rows[2]!.indexOf("running"));
    assert.ok(rows[1]!.endsWith("…"));
    // Piped: nothing cut.
    assert.ok(listRow(tasks[0]!, listLayout(tasks, undefined)).endsWith("y".repeat(200)));
  });
});
