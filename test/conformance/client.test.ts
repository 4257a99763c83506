import { after, before, describe, it } from "node:test";
import { startNodeAdapter } from "../../conformance/src/node-adapter.js";
import { startPythonAdapter } from "../../conformance/src/python-adapter.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";
import { expectKitPasses, KIT_SERVER_ARGS } from "./kit-run.js";

/**
 * Client mode: the same SDK scenarios (conformance/client/) through the Python SDK and the
 * Node SDK, against the real server on SQLite: both SDKs must behave alike.
 */
const leaks = trackLeaks();
let app: TestApp;

before(async () => {
  app = await startTestApp({ args: KIT_SERVER_ARGS });
});
after(async () => {
  await app.close();
  await leaks.check();
});

describe("the SDK scenarios", () => {
  for (const [name, start] of [
    ["Python", startPythonAdapter],
    ["Node", startNodeAdapter],
  ] as const) {
    it(`pass through the ${name} SDK`, async () => {
      const target = `http://${app.app.grpcAddress}`;
      const adapter = await start({ target });
      try {
        await expectKitPasses(target, "grpc", adapter);
      } finally {
        await adapter.close();
      }
    });
  }
});
