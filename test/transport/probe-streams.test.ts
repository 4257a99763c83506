import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { startTestApp } from "../support/app.js";

/**
 * grpc.health.v1 Health.Watch and reflection need no token, so their open streams are capped
 * (per remote address and in total): past the cap RESOURCE_EXHAUSTED, and a slot comes back
 * when a stream ends.
 */

type Generic = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown> & grpc.ClientDuplexStream<unknown, unknown>>;

function client(address: string, definition: grpc.ServiceDefinition): Generic {
  const Ctor = grpc.makeGenericClientConstructor(definition, "x");
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as Generic;
}

const reflectionDefinition: grpc.ServiceDefinition = {
  serverReflectionInfo: {
    path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    requestStream: true,
    responseStream: true,
    // ServerReflectionRequest { list_services = 7 }: field 7, string "".
    requestSerialize: () => Buffer.from([0x3a, 0x00]),
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** Opens a Watch; resolves "open" at its first message, or the status code it failed with. */
function openWatch(c: Generic) {
  const call = c.watch!({ service: "" });
  const first = new Promise<"open" | number>((resolve) => {
    call.once("data", () => resolve("open"));
    call.once("error", (err: grpc.ServiceError) => resolve(err.code));
  });
  call.on("error", () => undefined);
  return { call, first };
}

/** One reflection exchange: "answered", or the status code it failed with. */
function reflect(c: Generic) {
  const call = c.serverReflectionInfo!();
  call.on("error", () => undefined);
  const outcome = new Promise<"answered" | number>((resolve) => {
    call.once("data", () => resolve("answered"));
    call.once("error", (err: grpc.ServiceError) => resolve(err.code));
  });
  call.write({});
  return { call, outcome };
}

describe("unauthenticated probe streams", () => {
  it("caps Health.Watch and reflection streams per remote address, and frees a slot when one ends", async () => {
    const t = await startTestApp({ args: ["--max-probe-streams-per-address", "2", "--max-probe-streams", "100"] });
    const health = client(t.app.grpcAddress, healthService as unknown as grpc.ServiceDefinition);
    const reflection = client(t.app.grpcAddress, reflectionDefinition);
    const calls: { cancel(): void }[] = [];
    try {
      const a = openWatch(health);
      const b = openWatch(health);
      calls.push(a.call, b.call);
      assert.deepEqual(await Promise.all([a.first, b.first]), ["open", "open"]);
      const c = openWatch(health);
      calls.push(c.call);
      assert.equal(await c.first, grpc.status.RESOURCE_EXHAUSTED, "a third Watch from one address was accepted");
      const r = reflect(reflection);
      calls.push(r.call);
      assert.equal(await r.outcome, grpc.status.RESOURCE_EXHAUSTED, "reflection past the cap was accepted");
      a.call.cancel();
      // The slot comes back once the server saw the cancel.
      let again: "open" | number = grpc.status.RESOURCE_EXHAUSTED;
      for (let i = 0; i < 100 && again !== "open"; i++) {
        await new Promise((res) => setTimeout(res, 20));
        const d = openWatch(health);
        calls.push(d.call);
        again = await d.first;
        if (again !== "open") d.call.cancel();
      }
      assert.equal(again, "open", "the slot of a cancelled Watch never came back");
    } finally {
      for (const c of calls) c.cancel();
      health.close();
      reflection.close();
      await t.close();
    }
  });

  it("caps them in total across addresses", async () => {
    const t = await startTestApp({ args: ["--max-probe-streams-per-address", "100", "--max-probe-streams", "1"] });
    const health = client(t.app.grpcAddress, healthService as unknown as grpc.ServiceDefinition);
    const reflection = client(t.app.grpcAddress, reflectionDefinition);
    const calls: { cancel(): void }[] = [];
    try {
      const r = reflect(reflection);
      calls.push(r.call);
      assert.equal(await r.outcome, "answered");
      const w = openWatch(health);
      calls.push(w.call);
      assert.equal(await w.first, grpc.status.RESOURCE_EXHAUSTED, "a Watch past the total cap was accepted");
    } finally {
      for (const c of calls) c.cancel();
      health.close();
      reflection.close();
      await t.close();
    }
  });
});
