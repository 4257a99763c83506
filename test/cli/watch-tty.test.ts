// `taskctl watch` in a pseudo-terminal (util-linux script(1)): bars redrawn in place with
// ANSI, the live line on the task's line, and a confirmation answered at the prompt.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ComponentSchema, ConfirmationState } from "../../gen/taskcontrol/v1/task_pb.js";
import type { RequestConfirmationResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ROOT, type ServerHandle, startServer, stopServer, workerClient } from "./harness.js";

const SCRIPT = "/usr/bin/script";

/** `taskctl watch` in a pseudo-terminal: what it printed so far, a way to wait for text, its exit. */
function ttyWatch(server: ServerHandle, owner: string) {
  const cmd = `stty cols 120 rows 40; exec node bin/taskctl.mjs watch --owner ${owner} --server http://${server.grpcAddress}`;
  const child = spawn(SCRIPT, ["-q", "-f", "-e", "-c", cmd, "/dev/null"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  child.stdout.on("data", (d: Buffer) => {
    screen += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  /** Waits until `what` is on the screen (past offset `from`, when given). */
  const waitFor = async (what: string | RegExp, timeoutMs = 20_000, from = 0): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const hit = (): boolean => (typeof what === "string" ? screen.slice(from).includes(what) : what.test(screen.slice(from)));
    while (!hit()) {
      if (Date.now() > deadline) throw new Error(`screen lacks ${String(what)}:\n${JSON.stringify(screen.slice(-3000))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, screen: () => screen };
}

test("watch on a TTY redraws bars in place and answers a confirmation at the prompt", { timeout: 90_000 }, async () => {
  assert.ok(existsSync(SCRIPT), "script(1) from util-linux is needed for the pseudo-terminal");
  const dir = await mkdtemp(join(tmpdir(), "taskctl-tty-"));
  const server = await startServer({ db: join(dir, "t.sqlite") });
  const owner = `dave-${randomUUID().slice(0, 8)}`;
  const { child, exited, waitFor, screen: shown } = ttyWatch(server, owner);
  const held = new AbortController();
  try {
    await waitFor(/— live —/);
    const worker = workerClient(server.grpcAddress);
    const task = (await worker.createTask({ owner, kind: "demo", label: "Starting" })).task!;
    await worker.updateProgress({ taskId: task.id, progress: 0.5, label: "Processing step 5/10..." });
    await worker.emitProgress({ taskId: task.id, label: "dl: chunk 7 of 12" });
    // One line per task: bar, percent, status, label and live line, redrawn with cursor-up.
    await waitFor(/██████████░░░░░░░░░░\s+50%\s+running\s+Processing step 5\/10\.\.\.\s+› dl: chunk 7 of 12/);
    assert.match(shown(), /\u001b\[\d+F\u001b\[0J/, "redraws in place (cursor up + clear)");

    const stream = worker.requestConfirmation(
      {
        taskId: task.id,
        title: "Replace the existing result?",
        components: [
          create(ComponentSchema, { id: "txt", kind: { case: "text", value: { text: "It already exists." } } }),
          create(ComponentSchema, { id: "backup", kind: { case: "checkbox", value: { label: "Keep a backup" } } }),
          create(ComponentSchema, { id: "replace", kind: { case: "button", value: { label: "Replace", action: "replace" } } }),
          create(ComponentSchema, { id: "cancel", kind: { case: "button", value: { label: "Cancel", action: "cancel" } } }),
        ],
      },
      { signal: held.signal },
    );
    const it: AsyncIterator<RequestConfirmationResponse> = stream[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.event.case, "pending");
    await waitFor("? Replace the existing result?");
    await waitFor("It already exists.");
    await waitFor("Keep a backup [y/N]: ");
    child.stdin.write("y\r");
    await waitFor("[1] Replace   [2] Cancel");
    await waitFor("Choose 1-2");
    child.stdin.write("1\r");
    const answer = await it.next();
    assert.equal(answer.value?.event.case, "resolved");
    const r = answer.value!.event.value as { outcome: ConfirmationState; action: string; values?: unknown };
    assert.equal(r.outcome, ConfirmationState.ANSWERED);
    assert.equal(r.action, "replace");
    assert.deepEqual(r.values, { backup: true });
    await waitFor("answered: replace");

    // A prompt whose confirmation is answered elsewhere goes away by itself.
    const again = worker.requestConfirmation(
      {
        taskId: task.id,
        title: "Second question?",
        components: [create(ComponentSchema, { id: "ok", kind: { case: "button", value: { label: "OK", action: "ok" } } })],
      },
      { signal: held.signal },
    )[Symbol.asyncIterator]();
    const pending = await again.next();
    const id = (pending.value!.event.value as { confirmation: { id: string } }).confirmation.id;
    await waitFor("? Second question?");
    await worker.resolveConfirmation({ confirmationId: id, action: "ok" });
    await waitFor("answered elsewhere");
    await worker.completeTask({ taskId: task.id });
    await waitFor(/████████████████████\s+100%\s+succeeded/);

    child.stdin.write("\u0003");
    assert.equal(await exited, 130, "Ctrl-C ends the watch with 130");
  } finally {
    held.abort();
    if (child.exitCode === null) child.kill("SIGKILL");
    assert.equal(await stopServer(server), 0);
    await rm(dir, { recursive: true, force: true });
  }
});

test("watch prompts for number and multiple-choice inputs and asks again for a field the server refused", { timeout: 90_000 }, async () => {
  assert.ok(existsSync(SCRIPT), "script(1) from util-linux is needed for the pseudo-terminal");
  const dir = await mkdtemp(join(tmpdir(), "taskctl-tty-rules-"));
  const server = await startServer({ db: join(dir, "t.sqlite") });
  const owner = `erin-${randomUUID().slice(0, 8)}`;
  const { child, exited, waitFor, screen } = ttyWatch(server, owner);
  const held = new AbortController();
  try {
    await waitFor(/— live —/);
    const worker = workerClient(server.grpcAddress);
    const task = (await worker.createTask({ owner, kind: "demo", label: "Installing" })).task!;
    const stream = worker.requestConfirmation(
      {
        taskId: task.id,
        title: "Name the copy?",
        answerers: ["anonymous", "role:gateway"],
        components: [
          create(ComponentSchema, {
            id: "new_name",
            kind: { case: "textInput", value: { label: "New name", pattern: "[a-z0-9-]+", patternDescription: "lower-case letters, digits and -" } },
          }),
          create(ComponentSchema, { id: "workers", kind: { case: "numberInput", value: { label: "Workers", min: 1, max: 8, step: 1 } } }),
          create(ComponentSchema, { id: "targets", kind: { case: "select", value: { label: "Targets", multiple: true, options: [{ value: "cpu" }, { value: "gpu" }] } } }),
          create(ComponentSchema, { id: "go", kind: { case: "button", value: { label: "Go", action: "go", value: { confirmed: true } } } }),
        ],
      },
      { signal: held.signal },
    );
    const it: AsyncIterator<RequestConfirmationResponse> = stream[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.event.case, "pending");
    await waitFor("? Name the copy?");
    await waitFor("Who may answer: anonymous, any gateway (and admins)");
    await waitFor("New name (lower-case letters, digits and -): ");
    child.stdin.write("Bad Name\r");
    await waitFor("Workers (min 1, max 8, step 1): ");
    child.stdin.write("many\r");
    await waitFor("a number, please");
    child.stdin.write("12\r");
    await waitFor("Targets [1-2, comma-separated]: ");
    child.stdin.write("1,2\r");
    await waitFor("Choose 1-1");
    child.stdin.write("1\r");
    // The server refuses both: each violation is shown and only those fields are asked again.
    await waitFor("new_name: lower-case letters, digits and -");
    await waitFor("workers: must be at most 8");
    await waitFor("New name (lower-case letters, digits and -): ", 20_000, screen().indexOf("workers: must be at most 8"));
    const asked = screen().lastIndexOf("New name (");
    child.stdin.write("good-name\r");
    await waitFor("Workers (min 1, max 8, step 1): ", 20_000, asked);
    child.stdin.write("4\r");
    const answer = await it.next();
    const r = answer.value!.event.value as { outcome: ConfirmationState; action: string; values?: unknown; answeredBy: string };
    assert.deepEqual(
      [r.outcome, r.action, r.values, r.answeredBy],
      [ConfirmationState.ANSWERED, "go", { new_name: "good-name", workers: 4, targets: ["cpu", "gpu"], confirmed: true }, "anonymous"],
    );
    await waitFor("answered: go");
    child.stdin.write("\u0003");
    assert.equal(await exited, 130);
  } finally {
    held.abort();
    if (child.exitCode === null) child.kill("SIGKILL");
    assert.equal(await stopServer(server), 0);
    await rm(dir, { recursive: true, force: true });
  }
});
