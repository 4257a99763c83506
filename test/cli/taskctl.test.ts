// taskctl end to end against a real server child process: `demo` answered by `confirm`,
// `watch --json` checked event by event, list/get/cancel, usage errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { startServer, stopServer, taskctl, taskctlDone, type ServerHandle, workerClient } from "./harness.js";

type Json = Record<string, any>;
const parse = (line: string): Json => JSON.parse(line) as Json;

describe("taskctl against a running server", () => {
  let dir = "";
  let server: ServerHandle;
  let serverArgs: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "taskctl-test-"));
    server = await startServer({ db: join(dir, "t.sqlite") });
    serverArgs = ["--server", `http://${server.grpcAddress}`];
  });

  after(async () => {
    if (server !== undefined) assert.equal(await stopServer(server), 0, "server exits 0 on SIGTERM");
    await rm(dir, { recursive: true, force: true });
  });

  test("demo runs ten steps, waits, and `taskctl confirm` answers it; watch --json sees every step", async () => {
    const owner = `bob-${randomUUID().slice(0, 8)}`;
    const watch = taskctl(["watch", "--owner", owner, "--json", ...serverArgs]);
    try {
      await watch.waitForLine((l) => "snapshotEnd" in parse(l));

      const demo = taskctl(["demo", "--owner", owner, "--step-ms", "30", "--json", ...serverArgs]);
      const pendingLine = await demo.waitForLine((l) => parse(l)["event"] === "confirmation");
      const { taskId, confirmationId } = parse(pendingLine);
      assert.ok(typeof confirmationId === "string" && confirmationId.length > 0);

      // The task waits: the demo has not completed and the task says so.
      const waiting = await taskctlDone(["get", taskId, "--json", ...serverArgs]);
      assert.equal(waiting.code, 0, waiting.stderr);
      const waitingTask = parse(waiting.stdout[0]!);
      assert.equal(waitingTask["status"], "TASK_STATUS_WAITING_CONFIRMATION");
      assert.equal(waitingTask["pendingConfirmation"]["id"], confirmationId);

      const bad = await taskctlDone(["confirm", confirmationId, "--action", "explode", ...serverArgs]);
      assert.equal(bad.code, 2, "an action that is not one of the buttons is a usage error");
      assert.match(bad.stderr, /replace, cancel/);

      const answered = await taskctlDone(["confirm", confirmationId, "--action", "replace", "--json", ...serverArgs]);
      assert.equal(answered.code, 0, answered.stderr);
      const confirmation = parse(answered.stdout[0]!);
      assert.equal(confirmation["state"], "CONFIRMATION_STATE_ANSWERED");
      assert.equal(confirmation["action"], "replace");

      assert.equal(await demo.exited, 0, demo.stderr());
      const events = demo.lines.map(parse);
      assert.deepEqual(
        events.map((e) => e["event"]),
        ["created", ...Array(10).fill("progress"), "confirmation", "resolved", "completed"],
      );
      assert.deepEqual(
        events.filter((e) => e["event"] === "progress").map((e) => e["label"]),
        Array.from({ length: 10 }, (_, i) => `Processing step ${i + 1}/10...`),
      );
      const resolved = events.find((e) => e["event"] === "resolved")!;
      assert.equal(resolved["outcome"], "ANSWERED");
      assert.equal(resolved["action"], "replace");
      const completed = events.at(-1)!;
      assert.equal(completed["task"]["status"], "TASK_STATUS_SUCCEEDED");
      assert.equal(completed["task"]["result"]["decision"], "replaced");

      // The watcher saw the whole life of the task, in order.
      await watch.waitForLine((l) => parse(l)["statusChanged"]?.["task"]?.["status"] === "TASK_STATUS_SUCCEEDED");
      const seen = watch.lines.map(parse);
      const mine = seen.filter(
        (e) =>
          e["taskCreated"]?.["task"]?.["id"] === taskId ||
          e["progress"]?.["taskId"] === taskId ||
          e["confirmationRequested"]?.["confirmation"]?.["taskId"] === taskId ||
          e["confirmationResolved"]?.["confirmation"]?.["taskId"] === taskId ||
          e["statusChanged"]?.["task"]?.["id"] === taskId,
      );
      const kinds = mine.map((e) => Object.keys(e).find((k) => k !== "sequence" && k !== "time"));
      assert.equal(kinds[0], "taskCreated");
      const persisted = mine.filter((e) => e["progress"]?.["persisted"] === true).map((e) => e["progress"]["label"]);
      for (let i = 1; i <= 10; i += 1) assert.ok(persisted.includes(`Processing step ${i}/10...`), `step ${i} watched`);
      const live = mine.filter((e) => e["progress"] !== undefined && e["progress"]["persisted"] !== true);
      assert.ok(live.length >= 1, "live lines (EmitProgress) reach the watcher");
      assert.ok(live.every((e) => /^demo: finished step \d+ of 10$/.test(e["progress"]["label"])));
      const req = kinds.indexOf("confirmationRequested");
      const res = kinds.indexOf("confirmationResolved");
      assert.ok(req > 0 && res > req, `confirmation requested then resolved: ${kinds.join(",")}`);
      assert.equal(mine[res]!["confirmationResolved"]["confirmation"]["action"], "replace");
      assert.equal(kinds.at(-1), "statusChanged");
      // Persisted events carry strictly increasing sequences (int64 as JSON strings).
      const seqs = mine
        .filter((e) => e["progress"] === undefined || e["progress"]["persisted"] === true)
        .map((e) => BigInt(e["sequence"]));
      for (let i = 1; i < seqs.length; i += 1) assert.ok(seqs[i]! > seqs[i - 1]!, `sequence ${seqs[i]} after ${seqs[i - 1]}`);

      const listed = await taskctlDone(["list", "--owner", owner, "--status", "succeeded", "--json", ...serverArgs]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(listed.stdout.map((l) => parse(l)["id"]), [taskId]);
      const text = await taskctlDone(["get", taskId, ...serverArgs]);
      assert.equal(text.code, 0);
      assert.match(text.stdout.join("\n"), /status:\s+succeeded/);
    } finally {
      watch.child.kill("SIGINT");
      assert.equal(await watch.exited, 130, "watch ends on SIGINT with 130");
    }
  });

  test("`taskctl cancel` stops a running demo (exit 3) and `watch --task` ends with the task", async () => {
    const owner = `carol-${randomUUID().slice(0, 8)}`;
    const demo = taskctl(["demo", "--owner", owner, "--step-ms", "300", "--json", ...serverArgs]);
    const created = parse(await demo.waitForLine((l) => parse(l)["event"] === "created"));
    const taskId = created["task"]["id"] as string;
    const watch = taskctl(["watch", "--task", taskId, ...serverArgs]);
    await demo.waitForLine((l) => parse(l)["event"] === "progress");

    const cancelled = await taskctlDone(["cancel", taskId, "--reason", "enough", "--json", ...serverArgs]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(parse(cancelled.stdout[0]!)["status"], "TASK_STATUS_CANCELLED");
    assert.equal(await demo.exited, 3, demo.stderr());
    assert.equal(parse(demo.lines.at(-1)!)["event"], "cancelled");

    assert.equal(await watch.exited, 0, `watch --task ends when its task ends; stderr: ${watch.stderr()}`);
    const out = watch.lines.join("\n");
    assert.match(out, new RegExp(`${taskId}\\s+\\d+%\\s+cancelled`));

    // Cancelling again is a safe retry: OK, the task as it is.
    const again = await taskctlDone(["cancel", taskId, "--json", ...serverArgs]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parse(again.stdout[0]!)["status"], "TASK_STATUS_CANCELLED");
  });

  test("`taskctl history` prints a task's events in order, as text or JSON lines; an unknown task fails", async () => {
    const worker = workerClient(server.grpcAddress);
    const task = (await worker.createTask({ owner: `hana-${randomUUID().slice(0, 8)}`, kind: "demo", label: "Importing" })).task!;
    await worker.updateProgress({ taskId: task.id, progress: 0.25, label: "Imported 500 of 2,000 rows" });
    await worker.emitProgress({ taskId: task.id, label: "live only, never in the history" });
    await worker.failTask({ taskId: task.id, errorMessage: "disk full" });
    const text = await taskctlDone(["history", task.id, ...serverArgs]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.map((l) => l.replace(/^\s*\d+\s+\S+\s+/, ""));
    assert.deepEqual(lines, ["created: Importing", "25% Imported 500 of 2,000 rows", "status failed: disk full"]);
    const json = await taskctlDone(["history", task.id, "--json", ...serverArgs]);
    const events = json.stdout.map(parse);
    assert.deepEqual(events.map((e) => Object.keys(e).find((k) => k !== "sequence" && k !== "time")), ["taskCreated", "progress", "statusChanged"]);
    const missing = await taskctlDone(["history", "t-no-such-task", ...serverArgs]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFound/);
  });

  test("`list` pages: --limit rows, then the command for the next page on stderr; --all reads every page", async () => {
    const owner = `erin-${randomUUID().slice(0, 8)}`;
    const { workerClient } = await import("./harness.js");
    const worker = workerClient(server.grpcAddress);
    for (let i = 0; i < 5; i += 1) await worker.createTask({ owner, kind: "k", label: `job ${i}` });
    const first = await taskctlDone(["list", "--owner", owner, "--limit", "2", ...serverArgs]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.length, 3, "header and two rows");
    assert.match(first.stdout[1]!, /^t-[0-9a-f-]{36} running/, "whole ids");
    const next = /next page: taskctl list --owner \S+ --limit 2 --page-token (\S+)/.exec(first.stderr);
    assert.ok(next, `says that more exist and how to get them: ${first.stderr}`);
    const second = await taskctlDone(["list", "--owner", owner, "--limit", "2", "--page-token", next[1]!, ...serverArgs]);
    assert.deepEqual(second.stdout.slice(1).map((l) => l.split(" ")[0]).filter((id) => first.stdout.some((f) => f.startsWith(id!))), [], "the next page, not the same one");
    assert.equal(second.stdout.length, 3);
    const all = await taskctlDone(["list", "--owner", owner, "--all", "--json", ...serverArgs]);
    assert.equal(all.stdout.length, 5);
    assert.equal(all.stderr, "", "nothing more to say when every task was shown");
    assert.deepEqual(all.stdout.map((l) => parse(l)["label"]), ["job 4", "job 3", "job 2", "job 1", "job 0"]);
  });

  test("`demo` without --owner belongs to demo, the owner of the README's monitor URL and of the Python examples", async () => {
    const demo = taskctl(["demo", "--step-ms", "5000", "--json", ...serverArgs], { TASKCONTROL_OWNER: "", USER: "someone-else" });
    try {
      const created = parse(await demo.waitForLine((l) => parse(l)["event"] === "created"));
      assert.equal(created["task"]["owner"], "demo");
    } finally {
      demo.child.kill("SIGINT");
      await demo.exited;
    }
  });

  test("calls report the server's error and usage mistakes exit 2", async () => {
    const missing = await taskctlDone(["get", "no-such-task", ...serverArgs]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFound/);
    // Global options before the command reach the server too.
    const before = await taskctlDone([...serverArgs, "--token", "unused", "get", "no-such-task"]);
    assert.equal(before.code, 1, before.stderr);
    assert.match(before.stderr, /NotFound/);
    const usage = await taskctlDone(["confirm", "c1", ...serverArgs]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--action/);
    const badStatus = await taskctlDone(["list", "--status", "sleeping", ...serverArgs]);
    assert.equal(badStatus.code, 2);
  });
});

test("taskctl reports an unreachable server with exit 1 and a hint", async () => {
  const res = await taskctlDone(["list"], { TASKCONTROL_ADDRESS: "127.0.0.1:1" });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /Unavailable.*TASKCONTROL_ADDRESS/);
});
