import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { authPath, bearer, eventually, type HttpClients, httpClients, invoke, LISTENERS, writeAuthFile } from "./helpers.js";
import type { TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";

/**
 * Token rotation and revocation through SIGHUP on a real server process: the file is re-read,
 * a revoked token is refused at once on both listeners, and a broken file changes nothing.
 */

const leaks = trackLeaks();
let dir: string;
let proc: ServerProcess;
let grpc: GrpcTestClient;
let http: HttpClients;
let t: TestApp;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-reload-"));
});
after(async () => {
  grpc?.close();
  if (proc) assert.equal(await proc.stop(), 0, proc.output());
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

async function hup(logLine: string): Promise<void> {
  const seen = proc.output().split(logLine).length;
  proc.child.kill("SIGHUP");
  await eventually(() => proc.output().split(logLine).length > seen, 10_000, logLine);
}

describe("SIGHUP re-reads the auth file", () => {
  it("revokes, adds and keeps principals as the file says; a broken file keeps the previous set", async () => {
    const tokens = writeAuthFile(authPath(dir), undefined, ["admin", "worker"]);
    proc = await startServerProcess({ db: join(dir, "db.sqlite"), args: ["--auth-file", authPath(dir)] });
    grpc = grpcClient(proc.grpcAddress);
    http = httpClients(proc.httpAddress);
    t = { grpc } as TestApp;
    const code = async (listener: (typeof LISTENERS)[number], token: string) =>
      (await invoke(t, http, listener, "CreateTask", { owner: "o", kind: "k" }, bearer(token))).code;

    for (const l of LISTENERS) assert.equal(await code(l, tokens.worker), 0);

    // Revoke the worker's token, issue a new one to the same principal.
    const rotated = writeAuthFile(authPath(dir), { admin: tokens.admin }, ["admin", "worker"]);
    assert.notEqual(rotated.worker, tokens.worker);
    await hup("auth file reloaded");
    for (const l of LISTENERS) {
      assert.equal(await code(l, tokens.worker), Code.Unauthenticated, `${l}: the revoked token`);
      assert.equal(await code(l, rotated.worker), 0, `${l}: the new token`);
      assert.equal(await code(l, tokens.admin), 0, `${l}: the unchanged token`);
    }

    // A broken file is logged and ignored: the rotated set stays in force.
    writeFileSync(authPath(dir), '{"principals": [{"name": "x", "role": "root"');
    await hup("auth file rejected");
    for (const l of LISTENERS) {
      assert.equal(await code(l, rotated.worker), 0, `${l}: still valid after a rejected reload`);
      assert.equal(await code(l, tokens.worker), Code.Unauthenticated, `${l}: still revoked`);
    }
    // A semantically invalid file (a user without owner) is refused the same way.
    writeFileSync(authPath(dir), JSON.stringify({ principals: [{ name: "u", role: "user", token_sha256: "0".repeat(64) }] }));
    await hup("auth file rejected");
    assert.equal(await code("grpc", rotated.worker), 0);
    assert.ok(!proc.output().includes(rotated.worker), "a token never reaches the log");
    assert.equal(proc.child.exitCode, null, "SIGHUP does not stop the server");
  });
});

describe("startup refusals", () => {
  const refuse = async (args: string[], pattern: RegExp) => {
    await assert.rejects(startServerProcess({ db: join(dir, "refused.sqlite"), args, timeoutMs: 20_000 }), (err: Error) => {
      assert.match(err.message, /exited with 2 before serving/);
      assert.match(err.message, pattern);
      return true;
    });
  };
  it("without an auth file, a non-loopback listener is refused before anything listens", async () => {
    await refuse(["--grpc-listen", "0.0.0.0:0"], /refusing to serve without authentication on --grpc-listen 0\.0\.0\.0:0/);
    await refuse(["--http-listen", "0.0.0.0:0"], /refusing to serve without authentication on --http-listen 0\.0\.0\.0:0/);
  });
  it("an unreadable or invalid auth file stops startup with the reason", async () => {
    await refuse(["--auth-file", join(dir, "missing.json")], /cannot read auth file .*missing\.json: ENOENT/);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ principals: [{ name: "a", role: "admin", token_sha256: "xyz" }] }));
    await refuse(["--auth-file", bad], /token_sha256 must be 64 hex digits/);
  });
});
