import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { LazyAbort } from "../../src/transport/grpc/call-context.js";

/** A listener that counts what it was told. */
function listener() {
  return {
    told: 0,
    handleEvent() {
      this.told++;
    },
  };
}

describe("LazyAbort as a call's signal (what held streams listen to instead of an AbortSignal)", () => {
  it("tells each listener once, with the first reason, and forgets them", () => {
    const abort = new LazyAbort();
    const a = listener();
    const b = listener();
    abort.addEventListener("abort", a);
    abort.addEventListener("abort", b);
    abort.addEventListener("abort", a); // as an EventTarget: the same listener counts once
    assert.equal(abort.aborted, false);
    abort.abort("first");
    abort.abort("second");
    assert.deepEqual([a.told, b.told], [1, 1]);
    assert.equal(abort.aborted, true);
    assert.equal(abort.reason, "first");
    const late = listener();
    abort.addEventListener("abort", late);
    abort.abort("third");
    assert.equal(late.told, 0, "a listener added after the abort is not told (as with an aborted AbortSignal)");
  });

  it("does not tell a listener that was removed, nor skip one when another removes itself meanwhile", () => {
    const abort = new LazyAbort();
    const gone = listener();
    const after = listener();
    abort.addEventListener("abort", gone);
    const selfRemoving = {
      handleEvent: () => abort.removeEventListener("abort", selfRemoving),
    };
    abort.addEventListener("abort", selfRemoving);
    abort.addEventListener("abort", after);
    abort.removeEventListener("abort", gone);
    abort.abort();
    assert.equal(gone.told, 0);
    assert.equal(after.told, 1);
  });

  it("an AbortSignal asked for later agrees with it, before and after the abort", () => {
    const early = new LazyAbort();
    const signal = early.signal;
    let heard = 0;
    signal.addEventListener("abort", () => heard++);
    const l = listener();
    early.addEventListener("abort", l);
    early.abort("why");
    assert.deepEqual([signal.aborted, signal.reason, heard, l.told], [true, "why", 1, 1]);
    const late = new LazyAbort();
    late.abort("gone");
    assert.deepEqual([late.signal.aborted, late.signal.reason], [true, "gone"]);
  });

  it("honours the deadline once something listens", async () => {
    const abort = new LazyAbort();
    abort.setDeadline(20);
    // The deadline's timer does not hold the process (unref): this does, until it fired.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await new Promise<void>((resolve) => abort.addEventListener("abort", { handleEvent: resolve }));
    } finally {
      clearInterval(keepAlive);
    }
    assert.equal((abort.reason as ConnectError).code, Code.DeadlineExceeded);
  });
});
