import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ServiceImpl } from "@connectrpc/connect";
import type { GrpcTestClient } from "../support/grpc-client.js";
import { adapterServer } from "./support.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A held server stream (a RequestConfirmation waiting for its answer, for minutes or hours)
 * must not keep its decoded request once the handler took it: grpc-js keeps what the
 * deserializer answered for the call's whole life (in its handler's closure and as
 * `stream.request`), and for a confirmation that is its title and every component, decoded,
 * about a KiB per held call besides what the confirmation itself keeps.
 */

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let client: GrpcTestClient;
let stop: () => void;
const shutdown = new AbortController();
/** The request each held call's handler was given, weakly. */
const seen: WeakRef<object>[] = [];
let handlerCalls = 0;

before(async () => {
  const impl = {
    requestConfirmation(request: object) {
      handlerCalls++;
      seen.push(new WeakRef(request));
      // Holds the call until the client cancels; keeps nothing of the request.
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        next: () => new Promise<IteratorResult<never>>(() => undefined),
        return: () => Promise.resolve({ done: true, value: undefined } as IteratorResult<never>),
      };
    },
  } as unknown as ServiceImpl<typeof TaskControlService>;
  ({ client, stop } = await adapterServer(impl, shutdown.signal));
});

after(() => {
  shutdown.abort();
  stop();
});

describe("a held server stream lets go of its request", () => {
  it("the decoded request of a held RequestConfirmation is collected while the call is held", async () => {
    const calls = Array.from({ length: 5 }, (_, i) => {
      const { call } = client.serverStream("RequestConfirmation", {
        taskId: `t${i}`,
        title: "held",
        requestId: `r${i}`,
        components: [{ id: "ok", kind: { case: "button", value: { label: "OK", action: "ok" } } }],
      });
      call.on("error", () => undefined);
      return call;
    });
    const start = Date.now();
    while (handlerCalls < calls.length && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(handlerCalls, calls.length, "every call reached its handler");
    // Let the handlers' turn end, then collect.
    await new Promise((r) => setTimeout(r, 50));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const kept = seen.filter((ref) => ref.deref() !== undefined).length;
    for (const call of calls) call.cancel();
    assert.equal(kept, 0, `${kept} of ${calls.length} held calls still keep their decoded request`);
  });
});
