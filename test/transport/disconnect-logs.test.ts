import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { grpcClient } from "../support/grpc-client.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { envelope, eventually, OK_SURFACE } from "../security/helpers.js";
import { PROTOCOLS, resetStreams } from "./raw-streams.js";
import {
  RequestConfirmationRequestSchema,
  StreamProgressRequestSchema,
  TaskControlService,
  WatchTasksRequestSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A client that goes away in the middle of a stream is normal operation: the server logs it
 * at debug (the call line, CANCELLED), never at error as an "unexpected error".
 */

let dir: string;
let proc: ServerProcess | undefined;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-disconnect-"));
});
after(async () => {
  await proc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function jsonLines(p: ServerProcess): Record<string, unknown>[] {
  return p
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("client disconnects on streams", () => {
  it("are logged at debug, not as unexpected errors, on every protocol", { timeout: 120_000 }, async () => {
    proc = await startServerProcess({ db: join(dir, "d.sqlite"), args: ["--log-level", "debug"] });
    const c = grpcClient(proc.grpcAddress);
    let taskId: string;
    try {
      const checkpoint = { blob: "x".repeat(60_000) };
      for (let i = 0; i < 64; i++) await c.unary("CreateTask", { owner: "gone", kind: "k", checkpoint });
      const task: any = await c.unary("CreateTask", { owner: "gone", kind: "k" });
      taskId = task.task.id;
    } finally {
      c.close();
    }
    const bodies = {
      WatchTasks: toBinary(WatchTasksRequestSchema, create(WatchTasksRequestSchema, { owner: "gone", includeSnapshot: true })),
      RequestConfirmation: toBinary(
        RequestConfirmationRequestSchema,
        create(RequestConfirmationRequestSchema, { taskId, title: "t", requestId: "gone-1", components: OK_SURFACE as never }),
      ),
      StreamProgress: toBinary(
        StreamProgressRequestSchema,
        create(StreamProgressRequestSchema, { message: { case: "update", value: { taskId, progress: 0.5 } } }),
      ),
    };
    for (const p of PROTOCOLS) {
      for (const [rpc, body] of Object.entries(bodies)) await resetStreams(proc, p, rpc as keyof typeof bodies, envelope(body), 8);
    }
    // And a browser-like client that aborts a watch it was reading.
    const client = createClient(TaskControlService, createConnectTransport({ baseUrl: `http://${proc.httpAddress}`, httpVersion: "1.1" }));
    const abort = new AbortController();
    const it = client.watchTasks({ owner: "gone", includeSnapshot: true }, { signal: abort.signal })[Symbol.asyncIterator]();
    await it.next();
    abort.abort();
    await it.return?.().catch(() => undefined);
    await eventually(
      () => jsonLines(proc!).filter((l) => l.msg === "call" && l.transport === "http" && l.code === "CANCELLED").length >= 10,
      10_000,
      "cancelled call lines",
    );
    await new Promise((r) => setTimeout(r, 500));
    const lines = jsonLines(proc);
    const loud = lines.filter((l) => typeof l.level === "number" && l.level >= 40).map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.err ?? "")}`.slice(0, 200));
    assert.deepEqual(loud, [], "warn or error lines for client disconnects");
    const gone = lines.filter((l) => l.msg === "client went away");
    assert.ok(gone.length > 0, "the disconnects the handlers saw are logged");
    assert.ok(gone.every((l) => l.level === 20), "at debug");
    assert.equal(await proc.stop(), 0);
    proc = undefined;
  });
});
