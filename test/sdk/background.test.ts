// runBackground against the real server: the job's value completes the task, its error fails
// it, a cancel aborts its signal, heartbeats keep a leased task RUNNING.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { AttemptSuperseded, Builder, Button, TaskCancelled } from "../../clients/node/src/index.js";
import { nextConfirmation, startTestServer } from "../../clients/node/src/testing.js";
import { sharedServer } from "./shared-server.js";

const shared = sharedServer();

/** Resolves once `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));

describe("Node SDK: runBackground", { timeout: 60_000 }, () => {
  it("runs the job with its task and completes the task with the job's value", async () => {
    const run = await shared.client.tasks.runBackground(
      async (task) => {
        for (let i = 1; i <= 3; i++) await shared.client.tasks.updateProgress(task.id, i / 3, { label: `step ${i}/3` });
        return { steps: 3 };
      },
      { owner: "bg", label: "Stepping", kind: "demo" },
    );
    const done = await run.done;
    assert.deepEqual([done.id, done.status, done.progress, done.label, done.result], [run.id, "succeeded", 1, "step 3/3", { steps: 3 }]);
    assert.deepEqual([run.attempt, done.leaseDurationMs], [1, 60_000], "a lease of 60 s by default, as in the Python SDK");
  });

  it("fails the task with the job's error, its name and stack in the details", async () => {
    const run = await shared.client.tasks.runBackground(
      async () => {
        throw new RangeError("checksum mismatch");
      },
      { owner: "bg" },
    );
    const done = await run.done;
    assert.deepEqual([done.status, done.errorMessage, done.errorDetails?.["type"]], ["failed", "checksum mismatch", "RangeError"]);
    assert.match(String(done.errorDetails?.["traceback"]), /checksum mismatch/);
  });

  it("a cancel aborts the job's signal with TaskCancelled, even while it only sleeps", async () => {
    let reason: unknown;
    const run = await shared.client.tasks.runBackground(
      async (task) => {
        await aborted(task.signal);
        reason = task.signal.reason;
        throw reason;
      },
      { owner: "bg" },
    );
    await sleep(50);
    await shared.client.cancel(run.id, "stop it");
    const done = await run.done;
    assert.equal(done.status, "cancelled");
    assert.ok(reason instanceof TaskCancelled);
    assert.deepEqual([reason.taskId, reason.reason], [run.id, "stop it"]);
  });

  it("a cancel while the job waits on a confirmation ends the decision and aborts the signal", async () => {
    const run = await shared.client.tasks.runBackground(
      async (task) => {
        const d = await shared.client.tasks.requestConfirmation(task.id, new Builder().add(Button("go", { label: "Go", action: "go" })));
        return { outcome: d.outcome, aborted: task.signal.aborted };
      },
      { owner: "bg" },
    );
    await nextConfirmation(shared.client, { taskId: run.id });
    await shared.client.cancel(run.id);
    const done = await run.done;
    assert.deepEqual([done.status, run.signal.aborted], ["cancelled", true]);
  });

  it("with auth on, a worker's silent job learns of a user's cancel by push", async () => {
    const secured = await startTestServer({ principals: [{ name: "w", role: "worker" }, { name: "alice", role: "user", owner: "alice" }] });
    try {
      const run = await secured.connect("w").tasks.runBackground(async (task) => {
        await aborted(task.signal);
        throw task.signal.reason;
      }, { owner: "alice" });
      await sleep(100);
      await secured.connect("alice").cancel(run.id, "not now");
      // Nothing else would tell it: the job makes no call and has no lease to heartbeat.
      const pushed = await Promise.race([aborted(run.signal).then(() => true), sleep(10_000).then(() => false)]);
      assert.equal(pushed, true, "the job's signal was not aborted within 10 s of the cancel");
      assert.equal((await run.done).status, "cancelled");
    } finally {
      await secured.close();
    }
  });

  it("a claim by another attempt stops the job (AttemptSuperseded) and leaves the task to it; resume runs from the checkpoint", async () => {
    const first = shared.server.connect();
    const run = await first.tasks.runBackground(async (task) => {
      await first.tasks.updateProgress(task.id, 0.4, { checkpoint: { rows: 400 } });
      await aborted(task.signal);
      // Its calls are fenced from now on.
      await first.tasks.updateProgress(task.id, 0.5);
    }, { owner: "bg", lease: 30 });
    const supervisor = shared.server.connect();
    const seen: number[] = [];
    const second = await supervisor.tasks.runBackground(async (task) => {
      seen.push(task.attempt);
      assert.deepEqual(task.checkpoint, { rows: 400 });
      return { resumedFrom: task.checkpoint?.["rows"] ?? null };
    }, { owner: "bg", resume: run.id });
    assert.equal(second.id, run.id);
    const err = await run.done.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof AttemptSuperseded, String(err));
    assert.equal(err.reason, "ATTEMPT_SUPERSEDED");
    assert.ok(run.signal.reason instanceof AttemptSuperseded);
    const done = await second.done;
    assert.deepEqual([seen, done.attempt, done.status, done.progress, done.result], [[2], 2, "succeeded", 1, { resumedFrom: 400 }]);
    first.close();
    supervisor.close();
  });

  it("close() aborts a running job and done rejects: its end could not be recorded", async () => {
    const other = shared.server.connect();
    const run = await other.tasks.runBackground(async (task) => {
      await aborted(task.signal);
      return { never: true };
    }, { owner: "bg" });
    other.close();
    await assert.rejects(run.done, /closed/);
    assert.ok(run.signal.aborted && !(run.signal.reason instanceof TaskCancelled));
    assert.equal((await shared.client.tasks.view(run.id)).status, "running", "nothing recorded after close");
  });

  it("heartbeats keep a task with a 1 s lease RUNNING while the job works silently", async () => {
    const run = await shared.client.tasks.runBackground(
      async (task) => {
        const beat = await shared.client.tasks.heartbeat(task.id);
        assert.equal(beat.found, true);
        await sleep(2500);
        return { quiet: true };
      },
      { owner: "bg", lease: 1 },
    );
    await sleep(2000);
    const mid = await shared.client.tasks.view(run.id);
    assert.deepEqual([mid.status, mid.leaseDurationMs], ["running", 1000]);
    const done = await run.done;
    assert.equal(done.status, "succeeded");
  });
});
