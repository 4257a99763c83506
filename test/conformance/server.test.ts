import { describe, it } from "node:test";
import { expectKitPasses, kitServer } from "./kit-run.js";

/** The conformance kit against the real server on SQLite, over each of the three protocols. */
const server = kitServer();

describe("the conformance kit against the server on SQLite", () => {
  it("passes over gRPC (the gRPC listener)", () => expectKitPasses(`http://${server.app.app.grpcAddress}`, "grpc"));
  it("passes over Connect (the HTTP listener)", () => expectKitPasses(`http://${server.app.app.httpAddress}`, "connect"));
  it("passes over gRPC-Web (the HTTP listener)", () => expectKitPasses(`http://${server.app.app.httpAddress}`, "grpc-web"));
});
