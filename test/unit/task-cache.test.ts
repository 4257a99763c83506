import assert from "node:assert/strict";
import { confirmationFixture, taskFixture } from "../support/fixtures.js";
import { describe, it } from "node:test";
import type { Confirmation, Task, TaskStatus } from "../../src/domain/model.js";
import { createTaskCache } from "../../src/store/task-cache.js";

const task = (id: string, status: TaskStatus = "running", revision = 1, requestId: string | null = null): Task =>
  taskFixture({ id, status, revision, requestId });

const confirmation = (id: string, state: Confirmation["state"] = "pending"): Confirmation =>
  confirmationFixture({ id, state, surfaceId: "s" });

describe("task cache", () => {
  it("holds every unfinished task, however many, and at most recentCapacity finished ones", () => {
    const cache = createTaskCache({ recentCapacity: 2 });
    for (let i = 0; i < 50; i++) cache.remember(task(`run-${i}`));
    for (let i = 0; i < 5; i++) cache.remember(task(`done-${i}`, "succeeded", 2, `req-${i}`));
    assert.equal([...cache.activeTasks()].length, 50);
    for (let i = 0; i < 50; i++) assert.ok(cache.task(`run-${i}`), `run-${i} is held`);
    assert.deepEqual(
      Array.from({ length: 5 }, (_, i) => cache.task(`done-${i}`) !== undefined),
      [false, false, false, true, true],
      "the two finished most recently stay",
    );
    assert.equal(cache.taskIds().length, 52);
    assert.equal(cache.taskIdByRequest("req-0"), undefined, "an evicted task's request id goes with it");
    assert.equal(cache.taskIdByRequest("req-4"), "done-4");
  });

  it("moves a task that finishes from the unfinished set to the bounded one, and evicts least recently used first", () => {
    const cache = createTaskCache({ recentCapacity: 2 });
    cache.remember(task("a", "running", 1, "ra"));
    cache.remember(task("a", "failed", 2, "ra"));
    assert.deepEqual([...cache.activeTasks()], []);
    cache.remember(task("b", "succeeded", 2));
    assert.ok(cache.task("a"), "a read makes a recently used");
    cache.remember(task("c", "cancelled", 2));
    assert.equal(cache.task("b"), undefined, "b was the least recently used");
    assert.equal(cache.task("a")?.revision, 2);
    assert.equal(cache.taskIdByRequest("ra"), "a", "a replacement keeps the request id");
  });

  it("takes a published row only if it is not older than the one held", () => {
    const cache = createTaskCache();
    cache.remember(task("t", "running", 5));
    cache.rememberIfNewer(task("t", "running", 4));
    assert.equal(cache.task("t")?.revision, 5);
    cache.rememberIfNewer(task("t", "succeeded", 6));
    assert.equal(cache.task("t")?.status, "succeeded");
    cache.rememberIfNewer(task("t", "running", 5));
    assert.equal(cache.task("t")?.status, "succeeded", "a finished task does not come back to life");
  });

  it("holds every pending confirmation, bounds the final ones and never turns a final one pending again", () => {
    const cache = createTaskCache({ recentCapacity: 1 });
    for (let i = 0; i < 10; i++) cache.rememberConfirmation(confirmation(`p-${i}`));
    assert.equal(cache.pendingConfirmations().length, 10);
    cache.rememberConfirmation(confirmation("p-0", "answered"));
    cache.rememberConfirmation(confirmation("p-1", "expired"));
    assert.deepEqual(cache.pendingConfirmationIds().sort(), Array.from({ length: 8 }, (_, i) => `p-${i + 2}`));
    assert.equal(cache.confirmation("p-0"), undefined, "one final confirmation is kept: the latest");
    assert.equal(cache.confirmation("p-1")?.state, "expired");
    cache.rememberConfirmationIfNewer(confirmation("p-1", "pending"));
    assert.equal(cache.confirmation("p-1")?.state, "expired");
    cache.rememberConfirmationIfNewer(confirmation("p-2", "cancelled"));
    assert.equal(cache.confirmation("p-2")?.state, "cancelled");
  });
});
