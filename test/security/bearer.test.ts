import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "../support/app.js";
import { authPath, codeName, httpClients, type HttpClients, invoke, type Listener, type Who, writeAuthFile } from "./helpers.js";

/**
 * The authorization header's whitespace (RFC 6750 credentials, RFC 9110 OWS around a field
 * value): what reaches the server is accepted around the token and between "Bearer" and it;
 * HTTP/2 drops a value with leading or trailing whitespace before the server sees it
 * (RFC 9113 §8.2.1), and the answer then says so instead of only "missing bearer token".
 */

let t: TestApp;
let http: HttpClients;
let tokens: Record<Who, string>;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-bearer-"));
  tokens = writeAuthFile(authPath(dir));
  t = await startTestApp({ dir, args: ["--auth-file", authPath(dir)] });
  http = httpClients(t.app.httpAddress);
});
after(async () => t.close());

/** ListTasks with the given authorization value, over grpc-js, Connect HTTP/1.1 or Connect h2c. */
async function call(via: Listener | "h2c", authorization: string) {
  if (via === "h2c") return invoke(t, { h1: http.h2, h2: http.h2 }, "http", "ListTasks", {}, { authorization });
  return invoke(t, http, via, "ListTasks", {}, { authorization });
}

/** A Connect JSON ListTasks over bare node:http2, the authorization value sent exactly as given. */
function rawH2c(authorization: string): Promise<{ code: number; message: string }> {
  const session = http2.connect(`http://${t.app.httpAddress}`);
  session.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/taskcontrol.v1.TaskControlService/ListTasks",
      "content-type": "application/json",
      authorization,
    });
    let body = "";
    let status = 0;
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => (body += c.toString()));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      if (status === 200) return resolve({ code: 0, message: "" });
      const err = JSON.parse(body) as { code: string; message: string };
      resolve({ code: err.code === "unauthenticated" ? Code.Unauthenticated : -1, message: err.message });
    });
    stream.end("{}");
  });
}

describe("bearer token whitespace", () => {
  it("accepts spaces or tabs between Bearer and the token, and a lower-case scheme, on every transport", async () => {
    for (const via of ["grpc", "http", "h2c"] as const) {
      // grpc-js's client refuses a tab in metadata itself: that case is for the HTTP listener.
      const tab = via === "grpc" ? [] : [`Bearer\t${tokens.admin}`, `Bearer \t ${tokens.admin}`];
      for (const value of [`Bearer  ${tokens.admin}`, `bearer ${tokens.admin}`, `BEARER ${tokens.admin}`, ...tab]) {
        const out = await call(via, value);
        assert.equal(codeName(out.code), "OK", `${via} ${JSON.stringify(value.replace(tokens.admin, "<token>"))}: ${out.message}`);
      }
    }
  });

  it("HTTP/1.1: whitespace around the value is optional whitespace, and accepted", async () => {
    for (const value of [`Bearer ${tokens.admin} `, ` Bearer ${tokens.admin}`, `Bearer ${tokens.admin}\t`]) {
      const out = await call("http", value);
      assert.equal(codeName(out.code), "OK", `${JSON.stringify(value.replace(tokens.admin, "<token>"))}: ${out.message}`);
    }
  });

  it("HTTP/2 (grpc-js listener, h2c): a trailing space is refused with a message that names it", async () => {
    // connect's client trims header values itself: the h2c case goes out raw.
    const outcomes = { grpc: await call("grpc", `Bearer ${tokens.admin} `), h2c: await rawH2c(`Bearer ${tokens.admin} `) };
    for (const [via, out] of Object.entries(outcomes)) {
      assert.equal(codeName(out.code), "Unauthenticated", `${via}: ${out.message}`);
      assert.match(out.message, /whitespace/, `${via}: ${out.message}`);
    }
  });

  it("still refuses a scheme without a token, another scheme and an unknown token, each saying which", async () => {
    assert.match((await call("http", "Bearer")).message, /malformed/);
    assert.match((await call("http", `Basic ${tokens.admin}`)).message, /malformed/);
    assert.match((await call("http", "Bearer nope")).message, /unknown bearer token/);
  });
});
