import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { GrpcTestClient } from "../support/grpc-client.js";
import { adapterServer, sleep, within } from "./support.js";
import { TaskControlService, WatchTasksResponseSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A server-streaming handler is an async generator whose finally blocks free what it holds
 * (a subscription, a stream slot). When the call ends early, the adapter must return() the
 * generator so they run at once, even when the handler itself never looks at ctx.signal:
 * here it yields without end and never reads its signal.
 */

/** 8 KiB of label a message, one a millisecond: a client that stops reading soon parks the writer. */
const MESSAGE = create(WatchTasksResponseSchema, {
  sequence: 1n,
  event: { case: "progress", value: { taskId: "t", owner: "o", progress: 0.5, label: "x".repeat(8 * 1024) } },
});

let client: GrpcTestClient;
let stop: () => void;
let finallyRan: () => void = () => {};
let finished: Promise<void>;
const shutdown = new AbortController();

function expectFinally(): void {
  finished = new Promise((resolve) => (finallyRan = resolve));
}

before(async () => {
  const impl = {
    async *watchTasks() {
      try {
        for (;;) {
          yield MESSAGE;
          await sleep(1);
        }
      } finally {
        finallyRan();
      }
    },
  } as unknown as ServiceImpl<typeof TaskControlService>;
  ({ client, stop } = await adapterServer(impl, shutdown.signal));
});

after(() => stop());

describe("a server stream that ends early returns its handler's generator", () => {
  it("the client cancels after the first message: the handler's finally runs", async () => {
    expectFinally();
    const { call } = client.serverStream("WatchTasks", {});
    call.on("error", () => undefined);
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    call.cancel();
    assert.equal(await within(finished, 5000), "settled", "the generator's finally did not run after the client cancelled");
  });

  it("the deadline passes while the client does not read: the handler's finally runs", async () => {
    expectFinally();
    const call = client.raw.makeServerStreamRequest(
      `/${TaskControlService.typeName}/WatchTasks`,
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 300 },
    );
    call.on("error", () => undefined);
    // A client that stops reading: the server's writes park until the deadline ends the call.
    call.pause();
    assert.equal(await within(finished, 5000), "settled", "the generator's finally did not run after the deadline");
    call.cancel();
  });

  // Last: the shutdown signal stays aborted.
  it("the server drains while the client does not read: the handler's finally runs", async () => {
    expectFinally();
    const { call } = client.serverStream("WatchTasks", {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    call.pause();
    shutdown.abort();
    assert.equal(await within(finished, 5000), "settled", "the generator's finally did not run when the server drained");
    call.resume();
    assert.equal((await status).code, grpc.status.UNAVAILABLE);
  });
});
