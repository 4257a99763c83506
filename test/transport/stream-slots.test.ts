import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { startTestApp, type TestApp } from "../support/app.js";
import { envelope, eventually, OK_SURFACE } from "../security/helpers.js";
import { type Protocol, PROTOCOLS, resetStreams, type StreamRpc } from "./raw-streams.js";
import {
  RequestConfirmationRequestSchema,
  StreamProgressRequestSchema,
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
const SNAPSHOT_TASKS = Number(process.env.SNAPSHOT_TASKS ?? 96);
let t: TestApp;
let taskId: string;

/** A fresh server per case, so that one protocol's leak does not fail the next. */
async function start(): Promise<void> {
  t = await startTestApp({ args: ["--max-streams-per-principal", String(CAP)] });
  // A snapshot of about 6 MB (more than loopback socket buffers take), so that a watch that is not read parks the server on a write.
  const checkpoint = { blob: "x".repeat(60_000) };
  for (let i = 0; i < SNAPSHOT_TASKS; i++) await t.grpc.unary("CreateTask", { owner: "slots", kind: "k", checkpoint });
  const task: any = await t.grpc.unary("CreateTask", { owner: "slots", kind: "k" });
  taskId = task.task.id;
}

const BIG_TEXT = "y".repeat(4000);
/** A confirmation of about 250 KB: its `pending` message alone fills the peer's window. */
const bigSurface = () => [
  ...OK_SURFACE,
  ...Array.from({ length: 60 }, (_, i) => ({ id: `t${i}`, kind: { case: "text", value: { text: BIG_TEXT } } })),
];

function message(rpc: StreamRpc): Uint8Array {
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

/** Opens `n` streams of `rpc` over `p`, a batch at a time, and resets them all. */
async function resetMany(p: Protocol, rpc: StreamRpc, n: number): Promise<void> {
  const batch = CAP;
  for (let done = 0; done < n; done += batch) {
    await resetStreams(t.app, p, rpc, envelope(message(rpc)), batch);
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

const RPCS: StreamRpc[] = ["WatchTasks", "RequestConfirmation", "StreamProgress"];
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
