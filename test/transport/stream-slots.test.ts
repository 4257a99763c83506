import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import { after, describe, it } from "node:test";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { startTestApp, type TestApp } from "../support/app.js";
import { envelope, eventually, OK_SURFACE } from "../security/helpers.js";
import {
  RequestConfirmationRequestSchema,
  StreamProgressRequestSchema,
  TaskControlService,
  WatchTasksRequestSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Every end of a stream gives its slot back, exactly once: a client that resets a stream (or
 * destroys its socket) while the server is parked on a write must not leave the principal's
 * stream slot and taskcontrol_open_streams taken. With auth off every caller is one principal,
 * so a leak would lock every worker out. Each protocol of both listeners is tried with a peer
 * that stops reading, so that the server's write is pending when the stream goes.
 */

const CAP = 16;
const SNAPSHOT_TASKS = Number(process.env.SNAPSHOT_TASKS ?? 64);
let t: TestApp;
let taskId: string;

/** A fresh server per case, so that one protocol's leak does not fail the next. */
async function start(): Promise<void> {
  t = await startTestApp({ args: ["--max-streams-per-principal", String(CAP)] });
  // A snapshot of about 4 MB, so that a watch that is not read parks the server on a write.
  const checkpoint = { blob: "x".repeat(60_000) };
  for (let i = 0; i < SNAPSHOT_TASKS; i++) await t.grpc.unary("CreateTask", { owner: "slots", kind: "k", checkpoint });
  const task: any = await t.grpc.unary("CreateTask", { owner: "slots", kind: "k" });
  taskId = task.task.id;
}

type Rpc = "WatchTasks" | "RequestConfirmation" | "StreamProgress";
type Protocol = "grpc-js listener" | "connect h2c" | "grpc h2c" | "grpc-web http/1.1" | "connect http/1.1";

const BIG_TEXT = "y".repeat(4000);
/** A confirmation of about 250 KB: its `pending` message alone fills the peer's window. */
const bigSurface = () => [
  ...OK_SURFACE,
  ...Array.from({ length: 60 }, (_, i) => ({ id: `t${i}`, kind: { case: "text", value: { text: BIG_TEXT } } })),
];

function message(rpc: Rpc): Uint8Array {
  const bin = <S extends DescMessage>(s: S, v: MessageInitShape<S>) => toBinary(s, create(s, v));
  if (rpc === "WatchTasks") return bin(WatchTasksRequestSchema, { owner: "slots", includeSnapshot: true });
  if (rpc === "RequestConfirmation") {
    return bin(RequestConfirmationRequestSchema, {
      taskId,
      title: "big",
      requestId: "slots-1",
      components: bigSurface() as never,
    });
  }
  return bin(StreamProgressRequestSchema, { message: { case: "update", value: { taskId, progress: 0.5 } } });
}

function contentType(p: Protocol): string {
  if (p === "connect h2c" || p === "connect http/1.1") return "application/connect+proto";
  if (p === "grpc-web http/1.1") return "application/grpc-web+proto";
  return "application/grpc+proto";
}

/** Opens one stream that never reads and resolves once the server answered its headers. */
function openH2(session: http2.ClientHttp2Session, p: Protocol, rpc: Rpc): Promise<http2.ClientHttp2Stream> {
  const stream = session.request({
    ":method": "POST",
    ":path": `/${TaskControlService.typeName}/${rpc}`,
    "content-type": contentType(p),
    "connect-protocol-version": "1",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.pause();
  const body = envelope(message(rpc));
  // A client stream stays open (its request never ends); a server stream sends its one message.
  if (rpc === "StreamProgress") stream.write(body);
  else stream.end(body);
  return new Promise((resolve) => {
    stream.once("response", () => resolve(stream));
    // A client stream answers only at its end: give the server a moment to admit it.
    if (rpc === "StreamProgress") setTimeout(() => resolve(stream), 30);
    stream.once("close", () => resolve(stream));
  });
}

function openH1(address: string, p: Protocol, rpc: Rpc): Promise<http.ClientRequest> {
  const [host, port] = address.split(":");
  const req = http.request({
    host,
    port: Number(port),
    method: "POST",
    path: `/${TaskControlService.typeName}/${rpc}`,
    agent: false,
    headers: { "content-type": contentType(p), "connect-protocol-version": "1", "x-grpc-web": "1" },
  });
  req.on("error", () => undefined);
  const body = envelope(message(rpc));
  if (rpc === "StreamProgress") {
    req.flushHeaders();
    req.write(body);
  } else req.end(body);
  return new Promise((resolve) => {
    // Never read the response: the socket's buffers fill and the server waits on its write.
    req.once("response", (res) => {
      res.pause();
      resolve(req);
    });
    // A client stream answers only at its end: give the server a moment to admit it.
    if (rpc === "StreamProgress") setTimeout(() => resolve(req), 30);
    req.once("close", () => resolve(req));
  });
}

/** Opens `n` streams of `rpc` over `p`, a batch at a time, and resets them all. */
async function resetMany(p: Protocol, rpc: Rpc, n: number): Promise<void> {
  const batch = CAP;
  for (let done = 0; done < n; done += batch) {
    if (p === "grpc-web http/1.1" || p === "connect http/1.1") {
      const reqs = await Promise.all(Array.from({ length: batch }, () => openH1(t.app.httpAddress, p, rpc)));
      await new Promise((r) => setTimeout(r, 5));
      for (const req of reqs) req.destroy();
    } else {
      const address = p === "grpc-js listener" ? t.app.grpcAddress : t.app.httpAddress;
      const session = http2.connect(`http://${address}`);
      session.on("error", () => undefined);
      const streams = await Promise.all(Array.from({ length: batch }, () => openH2(session, p, rpc)));
      await new Promise((r) => setTimeout(r, 5));
      for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    }
    // Wait for the slots of this batch, so the next one is admitted if nothing leaked.
    await eventually(async () => (await openStreams()) === 0, 5000, "slots back").catch(() => undefined);
  }
}

/** Sum of taskcontrol_open_streams over every transport and method. */
async function openStreams(): Promise<number> {
  const text = await (await fetch(`http://${t.app.httpAddress}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith("taskcontrol_open_streams{")) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

/** Opens CAP watches at once over grpc-js and counts those admitted (a leak refuses some). */
async function admittedOfCap(): Promise<number> {
  const calls = Array.from({ length: CAP }, () => t.grpc.serverStream("WatchTasks", { owner: "nobody", includeSnapshot: true }));
  const outcomes = await Promise.all(
    calls.map(
      ({ call }) =>
        new Promise<boolean>((resolve) => {
          call.on("data", () => resolve(true));
          call.on("error", (err: { code?: number }) => resolve(err.code === 1));
        }),
    ),
  );
  for (const { call } of calls) call.cancel();
  await eventually(async () => (await openStreams()) === 0, 5000, "cap probes released").catch(() => undefined);
  return outcomes.filter(Boolean).length;
}

const PROTOCOLS: Protocol[] = ["grpc-js listener", "connect h2c", "grpc h2c", "grpc-web http/1.1", "connect http/1.1"];
const RPCS: Rpc[] = ["WatchTasks", "RequestConfirmation", "StreamProgress"];
const RESETS = Number(process.env.STREAM_SLOT_RESETS ?? 200);

describe("stream slots after resets", () => {
  for (const p of PROTOCOLS) {
    for (const rpc of RPCS) {
      it(`${p}: ${RESETS} ${rpc} streams reset mid-write give every slot back`, { timeout: 120_000 }, async () => {
        await start();
        after(() => t.close());
        await resetMany(p, rpc, RESETS);
        await eventually(async () => (await openStreams()) === 0, 5000, "open streams back to 0").catch(() => undefined);
        assert.equal(await openStreams(), 0, "taskcontrol_open_streams after the resets");
        assert.equal(await admittedOfCap(), CAP, `a cap of ${CAP} streams is still free for the principal`);
      });
    }
  }
});
