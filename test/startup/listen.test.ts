// The serving line gives each listener's bound address in the host:port form the flags take
// (IPv6 in brackets), so a harness or an operator can pass it straight to a client.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { parseHostPort, parseServerAddress } from "../../src/shared/address.js";
import { startServerProcess } from "../support/server-process.js";

const dir = mkdtempSync(join(tmpdir(), "taskcontrol-listen-"));
after(() => rmSync(dir, { recursive: true, force: true }));

it("on [::1]:0 both listeners print [::1]:PORT, and clients reach them there", async () => {
  const server = await startServerProcess({
    db: join(dir, "v6.sqlite"),
    args: ["--grpc-listen", "[::1]:0", "--http-listen", "[::1]:0"],
  });
  try {
    for (const address of [server.grpcAddress, server.httpAddress]) {
      assert.match(address, /^\[::1\]:\d+$/);
      assert.ok(parseHostPort(address).port > 0);
    }
    const grpc = createClient(TaskControlService, createGrpcTransport({ baseUrl: parseServerAddress(server.grpcAddress).baseUrl }));
    const http = createClient(
      TaskControlService,
      createConnectTransport({ baseUrl: parseServerAddress(server.httpAddress).baseUrl, httpVersion: "1.1" }),
    );
    const created = await grpc.createTask({ owner: "alice", kind: "k", label: "v6" });
    const got = await http.getTask({ taskId: created.task!.id });
    assert.equal(got.task?.label, "v6");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
