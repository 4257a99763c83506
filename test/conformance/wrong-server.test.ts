import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runKit } from "../../conformance/src/run.js";
import { type ConstantServer, startConstantServer } from "../support/constant-server.js";
import { trackLeaks } from "../support/leaks.js";

/**
 * The kit can fail: run against a server that answers constants, every case must fail,
 * over each protocol (the server speaks all three on one port).
 */
const leaks = trackLeaks();
let server: ConstantServer;

before(async () => {
  server = await startConstantServer();
});
after(async () => {
  await server.close();
  await leaks.check();
});

describe("the conformance kit against a server answering constants", () => {
  for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
    it(`fails every case over ${protocol}`, async () => {
      const lines: string[] = [];
      const result = await runKit({ target: server.url, protocol, parallel: 8, print: (l) => lines.push(l) });
      const passed = result.results.filter((r) => r.ok).map((r) => r.id);
      assert.equal(lines.at(-1), `${result.passed} passed, ${result.failed} failed`);
      assert.ok(result.results.length >= 60, `only ${result.results.length} cases`);
      // A case that passes against constants checks nothing a constant cannot fake.
      assert.deepEqual(passed, [], "cases that passed against constants");
      assert.equal(result.failed, result.results.length);
    });
  }
});
