import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { probePostgres } from "../support/pg.js";
import { expectKitPasses, KIT_SERVER_ARGS } from "./kit-run.js";

/** The conformance kit against the real server on PostgreSQL (a fresh database), over gRPC. */
const pg = await probePostgres();
if (pg.ok) {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ postgres: true, args: KIT_SERVER_ARGS });
  });
  after(() => app.close());
  describe("the conformance kit against the server on PostgreSQL", () => {
    it("passes over gRPC", () => expectKitPasses(`http://${app.app.grpcAddress}`, "grpc"));
  });
} else {
  it("the conformance kit on PostgreSQL", { skip: pg.reason }, () => undefined);
}
