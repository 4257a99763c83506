import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { parseHostPort } from "../../src/shared/address.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { grpcClient } from "../support/grpc-client.js";
import { trackLeaks } from "../support/leaks.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * TLS on both listeners with a certificate made here by openssl, then mutual TLS: with
 * --tls-client-ca a client must present a certificate that CA signed.
 */

const leaks = trackLeaks();
let dir: string;
const pem = (name: string) => readFileSync(join(dir, name));

/** A self-signed P-256 certificate for 127.0.0.1 (it is its own CA). */
function makeCert(name: string, cn: string): void {
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-subj", `/CN=${cn}`, "-addext", "subjectAltName=IP:127.0.0.1",
      "-days", "1", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`),
    ],
    { stdio: "ignore" },
  );
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-tls-"));
  makeCert("server", "localhost");
  makeCert("client", "worker-1");
  makeCert("stranger", "someone-else");
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

function httpsGet(address: string, path: string, options: https.RequestOptions): Promise<number> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    https
      .get({ host, port, path, ...options }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

describe("TLS", () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ args: ["--tls-cert", join(dir, "server.crt"), "--tls-key", join(dir, "server.key")] });
  });
  after(async () => t.close());

  it("serves gRPC over TLS, and refuses plaintext", async () => {
    const secure = grpcClient(t.app.grpcAddress, { credentials: grpc.credentials.createSsl(pem("server.crt")) });
    const res: any = await secure.unary("CreateTask", { owner: "o", kind: "tls" });
    assert.equal(res.task.kind, "tls");
    secure.close();
    const plain = grpcClient(t.app.grpcAddress, { channelOptions: { "grpc.initial_reconnect_backoff_ms": 50 } });
    await assert.rejects(plain.unary("ListTasks", {}, {}), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    plain.close();
  });

  it("serves Connect over HTTPS on HTTP/1.1 and HTTP/2, and the probes", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      const client = createClient(
        TaskControlService,
        createConnectTransport({ baseUrl: `https://${t.app.httpAddress}`, httpVersion, nodeOptions: { ca: pem("server.crt") } }),
      );
      const { task } = await client.createTask({ owner: "o", kind: `https-${httpVersion}` });
      assert.equal(task!.kind, `https-${httpVersion}`);
    }
    assert.equal(await httpsGet(t.app.httpAddress, "/healthz", { ca: pem("server.crt") }), 200);
    // A client that does not trust the certificate gets no further than the handshake.
    await assert.rejects(httpsGet(t.app.httpAddress, "/healthz", {}), /self[- ]signed|certificate/i);
  });
});

describe("mutual TLS (--tls-client-ca)", () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      args: [
        "--tls-cert", join(dir, "server.crt"),
        "--tls-key", join(dir, "server.key"),
        "--tls-client-ca", join(dir, "client.crt"),
      ],
    });
  });
  after(async () => t.close());

  it("accepts a client certificate the CA signed on both listeners", async () => {
    const creds = grpc.credentials.createSsl(pem("server.crt"), pem("client.key"), pem("client.crt"));
    const c = grpcClient(t.app.grpcAddress, { credentials: creds });
    assert.ok(((await c.unary("CreateTask", { owner: "o", kind: "mtls" })) as any).task.id);
    c.close();
    const client = createClient(
      TaskControlService,
      createConnectTransport({
        baseUrl: `https://${t.app.httpAddress}`,
        httpVersion: "2",
        nodeOptions: { ca: pem("server.crt"), key: pem("client.key"), cert: pem("client.crt") },
      }),
    );
    assert.ok((await client.listTasks({})).tasks.length >= 1);
  });

  it("refuses a client without a certificate, or with one the CA did not sign", async () => {
    for (const [key, cert] of [[undefined, undefined], [pem("stranger.key"), pem("stranger.crt")]] as const) {
      const creds = key ? grpc.credentials.createSsl(pem("server.crt"), key, cert!) : grpc.credentials.createSsl(pem("server.crt"));
      const c = grpcClient(t.app.grpcAddress, { credentials: creds });
      await assert.rejects(c.unary("ListTasks", {}), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
      c.close();
      await assert.rejects(httpsGet(t.app.httpAddress, "/healthz", { ca: pem("server.crt"), key, cert }));
    }
  });
});
