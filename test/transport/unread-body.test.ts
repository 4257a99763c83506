import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LIMITS } from "../../src/domain/limits.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { rawSocket, within } from "./support.js";

/**
 * An HTTP/1.1 answer sent before the request body was read (a message over the limit, a
 * path that is no RPC) says Connection: close and closes: the unread rest of the upload would
 * otherwise sit in front of the next request on a reused connection.
 */

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => t.close());

/** Sends headers announcing `length` body bytes and only the first few; returns what came back. */
async function partialUpload(path: string, type: string, length: number): Promise<{ head: string; closed: boolean }> {
  const s = rawSocket(t.app.httpAddress);
  try {
    await s.connected;
    s.socket.write(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: ${type}\r\nconnect-protocol-version: 1\r\ncontent-length: ${length}\r\n\r\n` + "\0".repeat(16),
    );
    const closed = (await within(s.closed, 5000)) === "settled";
    return { head: s.received().split("\r\n\r\n")[0]!.toLowerCase(), closed };
  } finally {
    s.destroy();
  }
}

describe("an HTTP/1.1 answer before the body was read", () => {
  it("a unary message over the limit: 413-class status with Connection: close, then the close", async () => {
    const out = await partialUpload("/taskcontrol.v1.TaskControlService/CreateTask", "application/proto", LIMITS.messageBytes + 100);
    assert.match(out.head, /^http\/1\.1 [45]\d\d/);
    assert.match(out.head, /\r\nconnection: close(\r\n|$)/, out.head);
    assert.ok(out.closed, "the server closed the connection");
  });

  it("a path that is no RPC: 404 with Connection: close, then the close", async () => {
    const out = await partialUpload("/nothing-here", "application/octet-stream", 100_000);
    assert.match(out.head, /^http\/1\.1 404/);
    assert.match(out.head, /\r\nconnection: close(\r\n|$)/, out.head);
    assert.ok(out.closed, "the server closed the connection");
  });
});
