// `taskctl watch` in a pseudo-terminal (util-linux script(1)), its output rendered by a
// headless xterm: bars redrawn in place, id and owner on each row, the live line on the task's
// row until it finishes, a confirmation answered at the prompt with the frame drawn once
// afterwards (not reprinted below the prompt), and finished tasks leaving the screen.
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
import xterm from "@xterm/headless";
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
  const cmd = `stty cols 120 rows 40; exec node bin/taskctl.mjs watch --keep-finished 2 --owner ${owner} --server http://${server.grpcAddress}`;
  const child = spawn(SCRIPT, ["-q", "-f", "-e", "-c", cmd, "/dev/null"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  const term = new xterm.Terminal({ cols: 120, rows: 40, scrollback: 1000, allowProposedApi: true });
  child.stdout.on("data", (d: Buffer) => {
    screen += d.toString();
    term.write(d);
  });
  /** Every row of the terminal, scrollback included, as a user would see them now. */
  const rendered = (): Promise<string[]> =>
    new Promise((resolve) =>
      term.write("", () => {
        const b = term.buffer.active;
        const rows: string[] = [];
        for (let i = 0; i < b.length; i += 1) rows.push(b.getLine(i)?.translateToString(true) ?? "");
        while (rows.length > 0 && rows.at(-1) === "") rows.pop();
        resolve(rows);
      }),
    );
  const waitForRows = async (ok: (rows: string[]) => boolean, what: string, timeoutMs = 20_000): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await rendered();
      if (ok(rows)) return rows;
      if (Date.now() > deadline) throw new Error(`screen never showed ${what}:\n${rows.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const headers = (rows: string[]) => rows.filter((r) => r.startsWith("taskctl watch — ")).length;
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const waitFor = async (what: string | RegExp, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const hit = (): boolean => (typeof what === "string" ? screen.includes(what) : what.test(screen));
    while (!hit()) {
      if (Date.now() > deadline) throw new Error(`screen lacks ${String(what)}:\n${JSON.stringify(screen.slice(-3000))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const held = new AbortController();
  try {
    await waitFor(/— live —/);
    const worker = workerClient(server.grpcAddress);
    const task = (await worker.createTask({ owner, kind: "demo", label: "Starting" })).task!;
    await worker.updateProgress({ taskId: task.id, progress: 0.5, label: "Processing step 5/10..." });
    await worker.emitProgress({ taskId: task.id, label: "dl: chunk 7 of 12" });
    // One line per task: bar, percent, status, label and live line, redrawn with cursor-up.
    await waitFor(/██████████░░░░░░░░░░\s+50%\s+running\s+Processing step 5\/10\.\.\.\s+› dl: chunk 7 of 12/);
    assert.match(screen, /\u001b\[\d+F\u001b\[0J/, "redraws in place (cursor up + clear)");
    // Two tasks with the same label differ by their id; the owner is on the row too.
    const twin = (await worker.createTask({ owner, kind: "demo", label: "Starting" })).task!;
    const row = (id: string) => new RegExp(`^${id.slice(0, 10)} ${owner}\\s+[█░]+\\s+\\d+%`);
    let rows = await waitForRows((r) => r.some((l) => row(twin.id).test(l)) && r.some((l) => row(task.id).test(l)), "a row per task with id and owner");
    assert.equal(headers(rows), 1, `one frame on screen:\n${rows.join("\n")}`);
    await worker.completeTask({ taskId: twin.id });
    // A finished task leaves the screen after --keep-finished.
    rows = await waitForRows((r) => !r.some((l) => row(twin.id).test(l)), "the finished twin gone after --keep-finished 2");

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
    // The prompt stays as a transcript with one outcome line; the frame is on screen once, below it.
    rows = await waitForRows((r) => r.some((l) => l.includes("? Replace the existing result?") && l.includes("— answered: replace")), "the outcome line");
    assert.equal(headers(rows), 1, `the frame is not reprinted below the prompt:\n${rows.join("\n")}`);
    const outcomeAt = rows.findIndex((l) => l.includes("— answered: replace"));
    assert.ok(rows.findIndex((l) => l.startsWith("taskctl watch — ")) > outcomeAt, "the frame follows the prompt");
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
    rows = await waitForRows((r) => r.some((l) => l.includes("? Second question?") && l.includes("— answered elsewhere")), "answered elsewhere");
    assert.equal(headers(rows), 1, `still one frame:\n${rows.join("\n")}`);
    await worker.emitProgress({ taskId: task.id, label: "dl: chunk 12 of 12" });
    await waitForRows((r) => r.some((l) => l.includes("› dl: chunk 12 of 12")), "the new live line");
    await worker.completeTask({ taskId: task.id });
    await waitFor(/████████████████████\s+100%\s+succeeded/);
    rows = await waitForRows((r) => r.some((l) => row(task.id).test(l) && l.includes("succeeded")), "the finished row");
    const finishedRow = rows.find((l) => row(task.id).test(l) && l.includes("succeeded"))!;
    assert.doesNotMatch(finishedRow, /›/, "no stale live line on a finished row");

    child.stdin.write("\u0003");
    assert.equal(await exited, 130, "Ctrl-C ends the watch with 130");
  } finally {
    held.abort();
    if (child.exitCode === null) child.kill("SIGKILL");
    assert.equal(await stopServer(server), 0);
    await rm(dir, { recursive: true, force: true });
  }
});

test("list on a TTY fits the terminal's width and height and says that more exist", { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "taskctl-tty-list-"));
  const server = await startServer({ db: join(dir, "t.sqlite") });
  try {
    const owner = `fay-${randomUUID().slice(0, 8)}`;
    const worker = workerClient(server.grpcAddress);
    for (let i = 0; i < 25; i += 1) await worker.createTask({ owner, kind: "k", label: `a long label for task ${i} `.repeat(4) });
    const cmd = `stty cols 90 rows 20; exec node bin/taskctl.mjs list --owner ${owner} --server http://${server.grpcAddress}`;
    const child = spawn(SCRIPT, ["-q", "-f", "-e", "-c", cmd, "/dev/null"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let raw = "";
    child.stdout.on("data", (d: Buffer) => (raw += d.toString()));
    assert.equal(await new Promise((resolve) => child.once("close", resolve)), 0, raw);
    const lines = raw.split(/\r?\n/).filter((l) => l !== "");
    const rows = lines.filter((l) => /^t-[0-9a-f-]{36} /.test(l));
    assert.equal(rows.length, 16, `a screenful (20 rows less header, hint and prompt):\n${raw}`);
    // The table fits; the hint is a command to copy whole (its page token is long).
    for (const l of [...rows, lines.find((l) => l.startsWith("ID "))!]) assert.ok(l.length <= 90, `fits 90 columns: ${JSON.stringify(l)}`);
    assert.match(raw, /16 tasks shown, more exist; next page: taskctl list --owner \S+ --page-token \S+ \(or --all\)/);
  } finally {
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
