import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { LIMITS } from "../../src/domain/limits.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createTask, holdConfirmation, watch } from "../support/flows.js";
import { httpClients, OK_SURFACE } from "../security/helpers.js";
import { rawSocket, sleep, trickle, within } from "./support.js";
import { CreateTaskRequestSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Connection timeouts and limits of both listeners, over real sockets: what a silent,
 * trickling or idle peer gets, and that held streams outlive every one of those timeouts.
 */

const SHORT = [
  "--http-initial-timeout-ms", "300",
  "--http-headers-timeout-ms", "500",
  "--http-request-timeout-ms", "1000",
  "--http-keep-alive-timeout-ms", "300",
  "--http2-idle-timeout-ms", "400",
  "--keepalive-interval-ms", "200",
  "--keepalive-timeout-ms", "1000",
  // Watches stay silent for the whole test: only the timeouts could end them.
  "--bookmark-interval-ms", "60000",
];
/** How long a test waits for a close the server should make well before it. */
const PATIENCE = 4000;

const SERVICE = "/taskcontrol.v1.TaskControlService";

let t: TestApp;
before(async () => {
  t = await startTestApp({ args: SHORT });
});
after(async () => {
  await t.close();
});

describe("HTTP listener timeouts", () => {
  it("closes a connection that sends nothing after the initial timeout", async () => {
    const s = rawSocket(t.app.httpAddress);
    try {
      await s.connected;
      assert.equal(await within(s.closed, PATIENCE), "settled", "a silent socket is still open");
    } finally {
      s.destroy();
    }
  });

  it("cuts trickled HTTP/1.1 headers at the headers timeout", async () => {
    const s = rawSocket(t.app.httpAddress);
    try {
      await s.connected;
      const lines = ["GET /healthz HTTP/1.1\r\n", "Host: x\r\n", ...Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: y\r\n`)];
      void trickle(s.socket, lines, 100);
      assert.equal(await within(s.closed, PATIENCE), "settled", "trickled headers are still being read");
      assert.match(s.received(), /^(HTTP\/1\.1 408|)/);
    } finally {
      s.destroy();
    }
  });

  it("cuts a trickled HTTP/1.1 body at the request timeout", async () => {
    const s = rawSocket(t.app.httpAddress);
    try {
      await s.connected;
      s.socket.write(
        `POST ${SERVICE}/CreateTask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
      );
      void trickle(s.socket, Array.from({ length: 100 }, () => " "), 100);
      assert.equal(await within(s.closed, PATIENCE), "settled", "a trickled body is still being read");
      assert.match(s.received(), /^HTTP\/1\.1 408/);
    } finally {
      s.destroy();
    }
  });

  it("closes an idle h2c session", async () => {
    const session = http2.connect(`http://${t.app.httpAddress}`);
    session.on("error", () => undefined);
    try {
      await new Promise<void>((resolve) => session.once("connect", () => resolve()));
      const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
      assert.equal(await within(closed, PATIENCE), "settled", "an idle h2c session is still open");
    } finally {
      session.destroy();
    }
  });

  it("answers an HTTP/1.1 client that half-closes after its request", async () => {
    const s = rawSocket(t.app.httpAddress, { allowHalfOpen: true });
    try {
      await s.connected;
      const body = JSON.stringify({ owner: "alice", kind: "half-close" });
      s.socket.end(
        `POST ${SERVICE}/CreateTask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await within(s.closed, PATIENCE);
      assert.match(s.received(), /^HTTP\/1\.1 200/, `got ${JSON.stringify(s.received())}`);
      assert.match(s.received(), /"kind":"half-close"/);
    } finally {
      s.destroy();
    }
  });

  it("ends a gRPC-over-h2c stream after the status of an oversized message", async () => {
    const session = http2.connect(`http://${t.app.httpAddress}`);
    session.on("error", () => undefined);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": `${SERVICE}/CreateTask`,
        "content-type": "application/grpc+proto",
        te: "trailers",
      });
      stream.on("error", () => undefined);
      let status: string | undefined;
      stream.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
      stream.on("trailers", (h) => (status ??= h["grpc-status"] as string | undefined));
      stream.resume();
      const body = toBinary(CreateTaskRequestSchema, create(CreateTaskRequestSchema, { owner: "a", kind: "x".repeat(LIMITS.messageBytes + 10) }));
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      Buffer.from(body).copy(frame, 5);
      stream.end(frame);
      const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
      assert.equal(await within(closed, PATIENCE), "settled", `the stream never ended (grpc-status ${status})`);
      assert.equal(status, "8");
    } finally {
      session.destroy();
    }
  });
});

describe("gRPC listener timeouts", () => {
  it("closes a connection that sends nothing after the HTTP/2 idle timeout", async () => {
    const s = rawSocket(t.app.grpcAddress);
    try {
      await s.connected;
      assert.equal(await within(s.closed, PATIENCE), "settled", "a silent socket is still open");
    } finally {
      s.destroy();
    }
  });
});

describe("held streams outlive every connection timeout", () => {
  it("keeps silent held confirmations and watches open on both listeners, all protocols", async () => {
    const http = httpClients(t.app.httpAddress);
    const tasks = await Promise.all([createTask(t.grpc), createTask(t.grpc), createTask(t.grpc)]);
    const request = (taskId: string) => ({ taskId, title: "Go?", components: OK_SURFACE });
    const grpcHold = holdConfirmation(t.grpc, request(tasks[0]!.id));
    const ac = new AbortController();
    const connectHold = (client: typeof http.h1, taskId: string) =>
      (async () => {
        const seen: string[] = [];
        for await (const m of client.requestConfirmation(request(taskId) as never, { signal: ac.signal })) seen.push(m.event.case ?? "");
        return seen;
      })();
    const h1Hold = connectHold(http.h1, tasks[1]!.id);
    const h2Hold = connectHold(http.h2, tasks[2]!.id);
    const grpcWatch = watch(t.grpc, { owner: "alice" });
    const h2Watch = (async () => {
      const seen: string[] = [];
      for await (const e of http.h2.watchTasks({ owner: "alice" }, { signal: ac.signal })) {
        seen.push(e.event.case ?? "");
        if (seen.filter((c) => c === "confirmationResolved").length === 3) break;
      }
      return seen;
    })();
    try {
      await grpcHold.waitFor(1);
      const pending = async () => {
        for (;;) {
          const res = (await t.grpc.unary("ListTasks", { owner: "alice" })) as { tasks: { id: string; pendingConfirmation?: { id: string } }[] };
          const ids = tasks.map((k) => res.tasks.find((x) => x.id === k.id)?.pendingConfirmation?.id);
          if (ids.every(Boolean)) return ids as string[];
          await sleep(20);
        }
      };
      const confirmations = await pending();
      // Past every timeout above, several times over, with nothing sent on any stream.
      await sleep(2500);
      for (const confirmationId of confirmations) await t.grpc.unary("ResolveConfirmation", { confirmationId, action: "go" });
      await grpcHold.waitFor(2);
      assert.deepEqual(await h1Hold, ["pending", "resolved"], "HTTP/1.1 held confirmation");
      assert.deepEqual(await h2Hold, ["pending", "resolved"], "h2c held confirmation");
      assert.equal((await h2Watch).filter((c) => c === "confirmationResolved").length, 3, "h2c watch");
      await grpcWatch.until((events) => events.filter((e) => e.event.case === "confirmationResolved").length === 3);
    } finally {
      ac.abort();
      grpcWatch.cancel();
      grpcHold.call.cancel();
      await Promise.allSettled([h1Hold, h2Hold, h2Watch, grpcWatch.done, grpcHold.done]);
    }
  });
});

describe("connection limit", () => {
  it("sheds the newest connection past --max-connections on each listener; the others keep working", async () => {
    const limited = await startTestApp({ args: ["--max-connections", "3"] });
    const sockets: ReturnType<typeof rawSocket>[] = [];
    const get = async (s: ReturnType<typeof rawSocket>, n: number) => {
      s.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      while ((s.received().match(/HTTP\/1\.1 200/g) ?? []).length < n) await sleep(10);
    };
    try {
      for (let i = 0; i < 3; i++) {
        const s = rawSocket(limited.app.httpAddress);
        sockets.push(s);
        await s.connected;
        await get(s, 1);
      }
      const newest = rawSocket(limited.app.httpAddress);
      sockets.push(newest);
      newest.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(await within(newest.closed, PATIENCE), "settled", "the connection past the limit was kept");
      assert.equal(newest.received(), "", "the connection past the limit was answered");
      for (const s of sockets.slice(0, 3)) await get(s, 2);

      // The gRPC listener has its own budget: one client connection plus two raw ones fill it.
      await createTask(limited.grpc);
      for (let i = 0; i < 2; i++) {
        const s = rawSocket(limited.app.grpcAddress);
        sockets.push(s);
        await s.connected;
      }
      await sleep(100);
      const shed = rawSocket(limited.app.grpcAddress);
      sockets.push(shed);
      assert.equal(await within(shed.closed, PATIENCE), "settled", "the gRPC connection past the limit was kept");
      await createTask(limited.grpc);
      for (const s of sockets.slice(0, 3)) await get(s, 3);
    } finally {
      for (const s of sockets) s.destroy();
      await limited.close();
    }
  });
});
