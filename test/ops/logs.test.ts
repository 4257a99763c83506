import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { ComponentInit } from "../support/flows.js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { trackLeaks } from "../support/leaks.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { authPath, bearer, eventually, writeAuthFile, type Who } from "../security/helpers.js";

/**
 * Structured logs of a real server process: JSON lines, one per call at debug level with the
 * request id (the caller's or a fresh one, echoed back), none at info; never a token or a
 * checkpoint's contents.
 */

const SECRET_CHECKPOINT = "checkpoint-secret-7c1e";
const SECRET_ANSWER = "answer-secret-51a0";
const SECRET_BUTTON = "button-secret-93d2";
const leaks = trackLeaks();
let dir: string;
let tokens: Record<Who, string>;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-logs-"));
  tokens = writeAuthFile(authPath(dir));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

/** The JSON lines of a server's output (the serving line is plain text). */
function jsonLines(proc: ServerProcess): Record<string, unknown>[] {
  return proc
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function traffic(proc: ServerProcess): Promise<{ echoed: string | undefined; generated: string | undefined }> {
  const c: GrpcTestClient = grpcClient(proc.grpcAddress);
  try {
    const task: any = await c.unary("CreateTask", { owner: "o", kind: "k" }, { ...bearer(tokens.worker), "x-request-id": "req-given-42" });
    await c.unary("UpdateProgress", { taskId: task.task.id, progress: 0.5, checkpoint: { note: SECRET_CHECKPOINT } }, bearer(tokens.worker));
    await c.unary("ListTasks", {}, bearer("not-a-token")).catch(() => {});
    // The request id comes back as response metadata, given or generated.
    const meta = (headers: Record<string, string>) =>
      new Promise<string | undefined>((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries({ ...bearer(tokens.admin), ...headers })) md.set(k, v);
        const call = c.raw.makeUnaryRequest(
          "/taskcontrol.v1.TaskControlService/ListTasks",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          md,
          (err) => (err ? reject(err) : undefined),
        );
        call.on("metadata", (m: grpc.Metadata) => resolve(m.get("x-request-id")[0] as string | undefined));
      });
    return { echoed: await meta({ "x-request-id": "req-echo-1" }), generated: await meta({}) };
  } finally {
    c.close();
  }
}

describe("logs", () => {
  let proc: ServerProcess | undefined;
  after(async () => {
    if (proc) await proc.stop();
  });

  it("at debug: one JSON line per call with its request id, principal and code; no token, no checkpoint", async () => {
    proc = await startServerProcess({ db: join(dir, "debug.sqlite"), args: ["--auth-file", authPath(dir), "--log-level", "debug"] });
    const { echoed, generated } = await traffic(proc);
    assert.equal(echoed, "req-echo-1");
    const res = await fetch(`http://${proc.httpAddress}/taskcontrol.v1.TaskControlService/ListTasks`, {
      method: "POST",
      headers: { ...bearer(tokens.admin), "content-type": "application/json", "x-request-id": "req-http-7" },
      body: "{}",
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-request-id"), "req-http-7");
    assert.match(generated ?? "", /^[0-9a-f-]{36}$/);
    await eventually(() => jsonLines(proc!).filter((l) => l.msg === "call").length >= 5, 5000, "call lines");
    const lines = jsonLines(proc);
    const created = lines.find((l) => l.msg === "call" && l.method === "CreateTask");
    assert.ok(created, "a line for CreateTask");
    assert.equal(created.requestId, "req-given-42");
    assert.equal(created.principal, "worker-1");
    assert.equal(created.code, "OK");
    assert.equal(created.transport, "grpc");
    assert.equal(typeof created.ms, "number");
    const refused = lines.find((l) => l.msg === "call refused");
    assert.equal(refused?.code, "UNAUTHENTICATED");
    assert.ok(lines.some((l) => l.msg === "call" && l.requestId === generated), "the generated id is the one logged");
    assert.ok(lines.some((l) => l.msg === "call" && l.transport === "http" && l.requestId === "req-http-7" && l.principal === "ops"));
    const out = proc.output();
    for (const secret of [...Object.values(tokens), "not-a-token", SECRET_CHECKPOINT]) {
      assert.ok(!out.includes(secret), `the log holds ${secret.slice(0, 6)}…`);
    }
    assert.equal(await proc.stop(), 0);
    proc = undefined;
  });

  it("at info (the default): no line per call", async () => {
    proc = await startServerProcess({ db: join(dir, "info.sqlite"), args: ["--auth-file", authPath(dir)] });
    await traffic(proc);
    assert.equal(await proc.stop(), 0);
    const lines = jsonLines(proc);
    proc = undefined;
    assert.ok(lines.some((l) => l.msg === "serving"));
    assert.ok(lines.every((l) => l.msg !== "call" && l.msg !== "call refused"));
    assert.ok(lines.every((l) => l.service === "taskcontrol" && typeof l.level === "number" && typeof l.time === "number"));
  });

  it("at info: one line per answer with the confirmation id, the principal and the action; never the values", async () => {
    proc = await startServerProcess({ db: join(dir, "answers.sqlite"), args: ["--auth-file", authPath(dir)] });
    const c: GrpcTestClient = grpcClient(proc.grpcAddress);
    try {
      const task: any = await c.unary("CreateTask", { owner: "alice", kind: "k" }, bearer(tokens.worker));
      const components: ComponentInit[] = [
        { id: "go", kind: { case: "button", value: { label: "Go", action: "go", value: { token: SECRET_BUTTON } } } },
        { id: "note", kind: { case: "textInput", value: { label: "Note" } } },
      ];
      const { responses, call } = c.serverStream("RequestConfirmation", { taskId: task.task.id, title: "t", components }, bearer(tokens.worker));
      call.on("error", () => {});
      const it = (responses as AsyncIterable<any>)[Symbol.asyncIterator]();
      const cid: string = (await it.next()).value.event.value.confirmation.id;
      const answer = { confirmationId: cid, action: "go", values: { note: SECRET_ANSWER } };
      await c.unary("ResolveConfirmation", answer, bearer(tokens.alice));
      await c.unary("ResolveConfirmation", answer, bearer(tokens.alice)); // a safe retry: no second line
      assert.equal((await it.next()).value.event.case, "resolved");
      call.cancel();
    } finally {
      c.close();
    }
    assert.equal(await proc.stop(), 0);
    const answered = jsonLines(proc).filter((l) => l.msg === "confirmation answered");
    assert.equal(answered.length, 1);
    assert.deepEqual([answered[0]!.principal, answered[0]!.action, typeof answered[0]!.confirmationId], ["alice-ui", "go", "string"]);
    for (const secret of [SECRET_ANSWER, SECRET_BUTTON]) assert.ok(!proc.output().includes(secret), "an answer's values are never logged");
    proc = undefined;
  });
});
