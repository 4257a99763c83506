import { describe, it } from "node:test";
import { startNodeAdapter } from "../../conformance/src/node-adapter.js";
import { startPythonAdapter } from "../../conformance/src/python-adapter.js";
import { expectKitPasses, kitServer } from "./kit-run.js";

/**
 * Client mode: the same SDK scenarios (conformance/client/) through the Python SDK and the
 * Node SDK, against the real server on SQLite: both SDKs must behave alike.
 */
const server = kitServer();

describe("the SDK scenarios", () => {
  for (const [name, start] of [
    ["Python", startPythonAdapter],
    ["Node", startNodeAdapter],
  ] as const) {
    it(`pass through the ${name} SDK`, async () => {
      const target = `http://${server.app.app.grpcAddress}`;
      const adapter = await start({ target });
      try {
        await expectKitPasses(target, "grpc", adapter);
      } finally {
        await adapter.close();
      }
    });
  }
});
