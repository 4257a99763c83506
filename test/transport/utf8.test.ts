import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "../support/app.js";
import { codeName, envelope, type Outcome, rawGrpc, rawHttp } from "../security/helpers.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Strings that are not UTF-8 are INVALID_ARGUMENT on every path, never stored as U+FFFD
 * (which would make distinct owners collide): Connect JSON and binary, gRPC-Web, gRPC over
 * h2c on the HTTP listener, and the gRPC listener; in a plain field and inside a Struct.
 */

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

const enc = new TextEncoder();
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...enc.encode(p)] : p)));

/** JSON string tokens that are not valid Unicode, each a different way. */
const BAD_STRINGS: Record<string, Uint8Array> = {
  "a 0xff byte": bytes('"al', [0xff], 'ice"'),
  "a truncated sequence": bytes('"k', [0xe2, 0x82], '"'),
  "an overlong encoding": bytes('"', [0xc0, 0xaf], '"'),
  "an escaped lone surrogate": bytes('"al\\ud800ice"'),
};

/** Bodies carrying `x` as a plain field, a Struct key and a Struct value. */
function jsonBodies(x: Uint8Array): Record<string, Uint8Array> {
  return {
    owner: bytes('{"owner":', [...x], ',"kind":"k"}'),
    "checkpoint key": bytes('{"owner":"o","kind":"k","checkpoint":{', [...x], ":1}}"),
    "checkpoint value": bytes('{"owner":"o","kind":"k","checkpoint":{"a":', [...x], "}}"),
  };
}

/** CreateTaskRequest in protobuf binary: field 1 (owner) with bytes that are not UTF-8. */
const BAD_BINARY: Record<string, Uint8Array> = {
  "a 0xff byte in owner": bytes([0x0a, 0x06], "al", [0xff], "ice", [0x12, 0x01], "k"),
  // checkpoint (field 4) = Struct { fields (1): entry { key (1): "a\xff", value (2): { number (2) } } }
  "a 0xff byte in a checkpoint key": bytes([0x0a, 0x01], "o", [0x12, 0x01], "k", [0x22, 0x0f, 0x0a, 0x0d, 0x0a, 0x02, 0x61, 0xff, 0x12, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]),
};

/** One gRPC call over h2c on the HTTP listener, with the body as given. */
function h2cGrpc(rpc: string, type: string, body: Uint8Array): Promise<Outcome> {
  const session = http2.connect(`http://${t.app.httpAddress}`);
  session.on("error", () => undefined);
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": `/${TaskControlService.typeName}/${rpc}`, "content-type": type, te: "trailers" });
    let headers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (h) => (headers = { ...headers, ...h }));
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    stream.on("close", () => {
      session.close();
      resolve({ code: Number(headers["grpc-status"] ?? -1), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) });
    });
    stream.end(body);
  });
}

/** The paths whose outcome was not INVALID_ARGUMENT, with what they answered. */
function accepted(outcomes: Record<string, Outcome>): string[] {
  return Object.entries(outcomes)
    .filter(([, out]) => out.code !== Code.InvalidArgument)
    .map(([path, out]) => `${path}: ${codeName(out.code)} ${out.message}`.trim());
}

async function taskCount(): Promise<number> {
  const res: any = await t.grpc.unary("ListTasks", { pageSize: 1000 });
  return res.tasks.length;
}

describe("strings that are not UTF-8", () => {
  for (const [what, x] of Object.entries(BAD_STRINGS)) {
    it(`JSON strings with ${what} are INVALID_ARGUMENT on Connect, Connect streaming, gRPC-Web and gRPC over h2c`, async () => {
      const before = await taskCount();
      const outcomes: Record<string, Outcome> = {};
      for (const [field, body] of Object.entries(jsonBodies(x))) {
        outcomes[`connect json, ${field}`] = await rawHttp(t.app.httpAddress, "CreateTask", "connect-json", body);
        outcomes[`grpc-web+json, ${field}`] = await rawHttp(t.app.httpAddress, "CreateTask", "grpc-web", envelope(body), {
          "content-type": "application/grpc-web+json",
        });
        outcomes[`grpc+json over h2c, ${field}`] = await h2cGrpc("CreateTask", "application/grpc+json", envelope(body));
      }
      const update = bytes('{"update":{"taskId":"t-1","label":', [...x], "}}");
      outcomes["connect+json client stream"] = await rawHttp(t.app.httpAddress, "StreamProgress", "connect-json", envelope(update));
      outcomes["connect+json server stream"] = await rawHttp(t.app.httpAddress, "WatchTasks", "connect-json", envelope(bytes('{"owner":', [...x], "}")));
      assert.deepEqual(accepted(outcomes), [], "paths that did not answer INVALID_ARGUMENT");
      assert.equal(await taskCount(), before, "nothing was stored");
    });
  }

  for (const [what, body] of Object.entries(BAD_BINARY)) {
    it(`protobuf with ${what} is INVALID_ARGUMENT on both listeners, in every binary encoding`, async () => {
      const before = await taskCount();
      const outcomes: Record<string, Outcome> = {
        "grpc listener": await rawGrpc(t, "CreateTask", body),
        "connect proto": await rawHttp(t.app.httpAddress, "CreateTask", "connect-proto", body),
        "grpc-web proto": await rawHttp(t.app.httpAddress, "CreateTask", "grpc-web", envelope(body)),
        "grpc proto over h2c": await h2cGrpc("CreateTask", "application/grpc+proto", envelope(body)),
        "connect proto stream": await rawHttp(t.app.httpAddress, "WatchTasks", "connect-proto", envelope(bytes([0x0a, 0x03], "a", [0xff], "b"))),
      };
      assert.deepEqual(accepted(outcomes), [], "paths that did not answer INVALID_ARGUMENT");
      assert.equal(await taskCount(), before, "nothing was stored");
    });
  }

  it("valid non-ASCII text is kept as sent on every path", async () => {
    const owner = "ålice-√-😀";
    const body = enc.encode(JSON.stringify({ owner, kind: "k" }));
    assert.equal((await rawHttp(t.app.httpAddress, "CreateTask", "connect-json", body)).code, 0);
    const res: any = await t.grpc.unary("ListTasks", { owner });
    assert.equal(res.tasks.length, 1);
    assert.equal(res.tasks[0].owner, owner);
  });
});
