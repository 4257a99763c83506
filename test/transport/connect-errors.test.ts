import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { endStreamFromJson, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { startTestApp, type TestApp } from "../support/app.js";
import { envelope } from "../security/helpers.js";
import { LIMITS } from "../../src/domain/limits.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A body connect-node cannot read fails before any interceptor runs (the unary message is
 * parsed first), yet the status it gets must be the same a handler's error gets: the right
 * code with an ErrorInfo reason, on Connect JSON, Connect binary and gRPC-Web alike.
 */

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

type Format = "connect-json" | "connect-proto" | "grpc-web-proto" | "grpc-web-json";

/** What the client read: the status code and the ErrorInfo reason (or "none"). */
interface Seen {
  code: string;
  reason: string;
}

const enc = new TextEncoder();

async function call(rpc: "CreateTask" | "WatchTasks", format: Format, body: Uint8Array): Promise<Seen> {
  const streaming = rpc === "WatchTasks";
  const codec = format.endsWith("json") ? "json" : "proto";
  const web = format.startsWith("grpc-web");
  const type = web ? `application/grpc-web+${codec}` : streaming ? `application/connect+${codec}` : `application/${codec}`;
  const res = await fetch(`http://${t.app.httpAddress}/${TaskControlService.typeName}/${rpc}`, {
    method: "POST",
    headers: { "content-type": type, "connect-protocol-version": "1" },
    body: new Blob([(web || streaming ? envelope(body) : body) as Uint8Array<ArrayBuffer>]),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let err: ConnectError | undefined;
  if (web) {
    err = findTrailerError(res.headers);
    if (!err) {
      const frames = envelopes(bytes);
      const trailer = frames.find((f) => (f.flags & 0x80) !== 0);
      err = trailer ? findTrailerError(trailerParse(trailer.data)) : undefined;
    }
  } else if (streaming) {
    const end = envelopes(bytes).find((f) => (f.flags & 0b10) !== 0);
    err = end ? endStreamFromJson(end.data).error : undefined;
  } else if (res.status !== 200) {
    err = errorFromJsonBytes(bytes, undefined, new ConnectError(`HTTP ${res.status}`, Code.Unknown));
  }
  if (!err) return { code: "OK", reason: "none" };
  const info = err.findDetails(ErrorInfoSchema)[0];
  return { code: Code[err.code], reason: info ? `${info.domain}/${info.reason}` : "none" };
}

function envelopes(bytes: Uint8Array): { flags: number; data: Uint8Array }[] {
  const out = [];
  let at = 0;
  while (at + 5 <= bytes.byteLength) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    out.push({ flags: bytes[at]!, data: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** Bytes that are not a protobuf message (a field of wire type 7). */
const GARBAGE = new Uint8Array([0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07, 0x01]);
/** CreateTaskRequest with owner "al\xffice": wire-valid, but the string is not UTF-8. */
const BAD_UTF8 = new Uint8Array([0x0a, 0x06, 0x61, 0x6c, 0xff, 0x69, 0x63, 0x65, 0x12, 0x01, 0x6b]);

const INVALID = { code: "InvalidArgument", reason: "taskcontrol/INVALID_ARGUMENT" };

describe("a body connect cannot read gets a status with an ErrorInfo reason", () => {
  const cases: [string, Format, Uint8Array][] = [
    ["malformed protobuf", "connect-proto", GARBAGE],
    ["malformed protobuf", "grpc-web-proto", GARBAGE],
    ["protobuf with a string that is not UTF-8", "connect-proto", BAD_UTF8],
    ["protobuf with a string that is not UTF-8", "grpc-web-proto", BAD_UTF8],
    ["malformed JSON", "connect-json", enc.encode('{"owner": ')],
    ["malformed JSON", "grpc-web-json", enc.encode('{"owner": ')],
    ["JSON of the wrong shape", "connect-json", enc.encode('{"owner": 12}')],
    ["JSON that is not UTF-8", "connect-json", Uint8Array.from([...enc.encode('{"owner":"al'), 0xff, ...enc.encode('ice"}')])],
    ["JSON with a lone surrogate", "connect-json", enc.encode('{"owner":"al\\ud800ice"}')],
  ];
  for (const rpc of ["CreateTask", "WatchTasks"] as const) {
    for (const [what, format, body] of cases) {
      it(`${rpc}, ${format}: ${what} is INVALID_ARGUMENT with reason INVALID_ARGUMENT`, async () => {
        assert.deepEqual(await call(rpc, format, body), INVALID);
      });
    }
  }

  it("a message over the limit is RESOURCE_EXHAUSTED with an ErrorInfo reason on every format", async () => {
    const huge = new Uint8Array(LIMITS.messageBytes + 1);
    for (const rpc of ["CreateTask", "WatchTasks"] as const) {
      for (const format of ["connect-proto", "grpc-web-proto"] as const) {
        assert.deepEqual(await call(rpc, format, huge), { code: "ResourceExhausted", reason: "taskcontrol/MESSAGE_TOO_LARGE" }, `${rpc} ${format}`);
      }
    }
  });
});
