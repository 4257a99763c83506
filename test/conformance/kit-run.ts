import assert from "node:assert/strict";
import { after, before } from "node:test";
import type { SdkAdapter } from "../../conformance/src/adapter.js";
import { runKit } from "../../conformance/src/run.js";
import type { Protocol } from "../../conformance/src/wire.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";

/** Server flags that make the kit's time-based cases quick (bookmarks every 250 ms). */
export const KIT_SERVER_ARGS = ["--bookmark-interval-ms", "250"];

/** The test file's real server on SQLite with KIT_SERVER_ARGS: started before its tests, stopped after. */
export function kitServer(): { readonly app: TestApp } {
  const leaks = trackLeaks();
  let app: TestApp | undefined;
  before(async () => {
    app = await startTestApp({ args: KIT_SERVER_ARGS });
  });
  after(async () => {
    await app?.close();
    await leaks.check();
  });
  return {
    get app() {
      return app!;
    },
  };
}

/**
 * Runs the kit (or, with an adapter, its client mode) against a target and fails listing
 * every failed case with its reason.
 */
export async function expectKitPasses(target: string, protocol: Protocol, adapter?: SdkAdapter): Promise<void> {
  const lines: string[] = [];
  const result = await runKit({ target, protocol, adapter, print: (l) => lines.push(l) });
  assert.equal(lines.at(-1), `${result.passed} passed, ${result.failed} failed`);
  const failures = result.results.filter((r) => !r.ok).map((r) => `${r.id}: ${r.failure}`);
  assert.deepEqual(failures, [], `${result.failed} of ${result.results.length} cases failed`);
}
