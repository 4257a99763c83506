import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Knex } from "@mikro-orm/knex";
import type { TaskStore } from "../../src/domain/ports.js";
import { createDbGuard } from "../../src/store/db-guard.js";

/** The guard's watch for writes that never commit (a frozen file system blocks, it does not fail). */

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

function deferred() {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A store whose writes settle when the test says, in the order they were submitted. */
function fakeStore() {
  const writes: ReturnType<typeof deferred>[] = [];
  const store = {
    mutate: () => {
      const d = deferred();
      writes.push(d);
      return d.promise;
    },
  } as unknown as TaskStore;
  return { store, writes };
}

// The probe that clears a problem once nothing is in flight: "PRAGMA user_version", then its rewrite.
const knex = { raw: async () => [{ user_version: 0 }] } as unknown as Knex;

describe("the database guard", () => {
  it("reports a write stuck past stallMs, however many settled after it was queued, and clears once all settled and a probe commits", async () => {
    const guard = createDbGuard({ db: ":memory:", dialect: "sqlite", knex, checkMs: 5, stallMs: 300 });
    try {
      const { store, writes } = fakeStore();
      const guarded = guard.guard(store);
      const answers = [guarded.mutate({} as never), guarded.mutate({} as never), guarded.mutate({} as never)];
      await until(() => guard.problem !== null, "the stall to be reported");
      assert.match(guard.problem!, /a write has not committed for \d+ ms/);
      // The first two commit (one fails): the third is still stuck.
      writes[0]!.resolve("a");
      writes[1]!.reject(new Error("refused"));
      assert.equal(await answers[0], "a");
      await assert.rejects(answers[1]!, /refused/);
      await new Promise((r) => setTimeout(r, 30));
      assert.match(guard.problem ?? "", /has not committed/, "the third write is still stuck");
      writes[2]!.resolve("c");
      assert.equal(await answers[2], "c");
      await until(() => guard.problem === null, "the probe to clear the problem");
      // Many writes that settle at once keep nothing stuck behind them.
      for (let round = 0; round < 3; round++) {
        const batch = Array.from({ length: 1500 }, () => guarded.mutate({} as never));
        for (const w of writes.splice(0)) w.resolve("ok");
        await Promise.all(batch);
      }
      // Nothing is in flight: a write of the next round would be the oldest, not one settled long ago.
      void guarded.mutate({} as never);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(guard.problem, null);
      writes.splice(0).forEach((w) => w.resolve("ok"));
    } finally {
      guard.close();
    }
  });
});
