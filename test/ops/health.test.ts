import assert from "node:assert/strict";
import { type HealthClient, healthClient } from "../support/health-client.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createHealth } from "../../src/ops/health.js";
import { startTestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";
import { authPath, writeAuthFile } from "../security/helpers.js";

/** grpc.health.v1 on the gRPC listener and /healthz, /readyz on HTTP, through a life cycle. */


const leaks = trackLeaks();
after(() => leaks.check());

const check = (c: HealthClient, service: string) =>
  new Promise<string>((resolve, reject) => c.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));

describe("health", () => {
  it("is SERVING on both listeners while up, without a token even when auth is on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "taskcontrol-health-"));
    writeAuthFile(authPath(dir));
    const t = await startTestApp({ dir, args: ["--auth-file", authPath(dir)] });
    const c = healthClient(t.app.grpcAddress);
    try {
      assert.equal(await check(c, ""), "SERVING");
      assert.equal(await check(c, "taskcontrol.v1.TaskControlService"), "SERVING");
      await assert.rejects(check(c, "no.such.Service"), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
      for (const path of ["/healthz", "/readyz"]) {
        const res = await fetch(`http://${t.app.httpAddress}${path}`);
        assert.equal(res.status, 200, path);
        assert.equal(await res.text(), "ok\n");
      }
    } finally {
      c.close();
      await t.close();
    }
  });

  it("turns NOT_SERVING when draining, tells Health.Watch and ends it, and the drain does not wait on it", async () => {
    // A long grace: if the drain waited on the open Watch stream, close() would take 20 s.
    const t = await startTestApp({ args: ["--shutdown-grace-ms", "20000"] });
    const c = healthClient(t.app.grpcAddress);
    const seen: string[] = [];
    const watch = c.watch({ service: "taskcontrol.v1.TaskControlService" });
    const ended = new Promise<void>((resolve) => {
      watch.on("data", (m: { status: string }) => seen.push(m.status));
      watch.on("end", () => resolve());
      watch.on("error", () => resolve());
    });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ["SERVING"]);
    const started = Date.now();
    await t.close();
    await ended;
    assert.deepEqual(seen, ["SERVING", "NOT_SERVING"]);
    assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
    c.close();
  });

  it("is NOT_SERVING and /readyz 503 until the service is marked serving; /healthz is liveness only", async () => {
    let open = false;
    const h = createHealth({ services: ["x.v1.S"], ready: () => open });
    const probe = async (path: string) => {
      let status = 0;
      const res = { statusCode: 0, setHeader() {}, end() {} } as unknown as { statusCode: number };
      await h.route({ url: path } as never, res as never);
      status = res.statusCode;
      return status;
    };
    assert.equal(h.serving, false);
    assert.equal(await probe("/readyz"), 503);
    assert.equal(await probe("/healthz"), 200);
    h.setServing(true);
    assert.equal(await probe("/readyz"), 503, "the core is not open yet");
    open = true;
    assert.equal(await probe("/readyz"), 200);
    h.drain();
    assert.equal(await probe("/readyz"), 503);
    assert.equal(await h.route({ url: "/other" } as never, {} as never), false);
  });

  it("a problem (the database cannot commit) makes it NOT_SERVING with the reason until cleared", async () => {
    const h = createHealth({ services: ["x.v1.S"], ready: () => true });
    const probe = async () => {
      let body = "";
      const res = { statusCode: 0, setHeader() {}, end: (b: string) => (body = b) } as unknown as { statusCode: number };
      await h.route({ url: "/readyz" } as never, res as never);
      return `${res.statusCode} ${body}`;
    };
    h.setServing(true);
    assert.equal(await probe(), "200 ok\n");
    h.setProblem("the database cannot commit (SQLITE_FULL)");
    assert.equal(h.serving, false);
    assert.equal(await probe(), "503 not serving: the database cannot commit (SQLITE_FULL)\n");
    h.setProblem(null);
    assert.equal(h.serving, true);
    assert.equal(await probe(), "200 ok\n");
  });
});
