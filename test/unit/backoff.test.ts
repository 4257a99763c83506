import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay } from "../../src/shared/backoff.js";

describe("backoffDelay", () => {
  it("doubles from initialMs and stops at maxMs", () => {
    const delays = [0, 1, 2, 3, 4, 5, 6].map((r) => backoffDelay(r, { initialMs: 100, maxMs: 1000 }));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it("honours another factor", () => {
    assert.deepEqual([0, 1, 2].map((r) => backoffDelay(r, { initialMs: 10, maxMs: 1e6, factor: 3 })), [10, 30, 90]);
  });

  it("takes up to `jitter` of the delay off at random", () => {
    const policy = { initialMs: 1000, maxMs: 8000, jitter: 0.5 };
    assert.equal(backoffDelay(0, policy, () => 0), 500);
    assert.equal(backoffDelay(0, policy, () => 0.5), 750);
    assert.equal(backoffDelay(3, policy, () => 0.999999), 8000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, policy);
      assert.ok(d >= 2000 && d <= 4000, String(d));
    }
  });

  it("never overflows, however many retries", () => {
    assert.equal(backoffDelay(1e9, { initialMs: 50, maxMs: 5000 }), 5000);
    assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, { initialMs: 1, maxMs: 30_000, jitter: 1 }, () => 0.5), 15_000);
  });

  it("treats a negative or fractional retry as the first", () => {
    assert.equal(backoffDelay(-3, { initialMs: 250, maxMs: 5000 }), 250);
    assert.equal(backoffDelay(0.7, { initialMs: 250, maxMs: 5000 }), 250);
  });
});
