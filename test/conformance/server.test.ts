import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";
import { expectKitPasses, KIT_SERVER_ARGS } from "./kit-run.js";

/** The conformance kit against the real server on SQLite, over each of the three protocols. */
const leaks = trackLeaks();
let app: TestApp;

before(async () => {
  app = await startTestApp({ args: KIT_SERVER_ARGS });
});
after(async () => {
  await app.close();
  await leaks.check();
});

describe("the conformance kit against the server on SQLite", () => {
  it("passes over gRPC (the gRPC listener)", () => expectKitPasses(`http://${app.app.grpcAddress}`, "grpc"));
  it("passes over Connect (the HTTP listener)", () => expectKitPasses(`http://${app.app.httpAddress}`, "connect"));
  it("passes over gRPC-Web (the HTTP listener)", () => expectKitPasses(`http://${app.app.httpAddress}`, "grpc-web"));
});
