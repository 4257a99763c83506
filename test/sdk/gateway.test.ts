// The Node SDK's gateway side and its resilience against the real server: watch resumes by
// itself across a restart with no gap or duplicate, a held confirmation re-attaches, auth
// errors are typed, close() ends what runs.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Builder, Button, connect, PermissionDenied, SequenceOutOfRange, type WatchTasksResponse } from "../../clients/node/src/index.js";
import { nextConfirmation, startTestServer } from "../../clients/node/src/testing.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";
import { freePort, ROOT } from "../support/server-process.js";

const leaks = trackLeaks();
const dir = mkdtempSync(join(tmpdir(), "taskcontrol-sdk-"));
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await leaks.check();
});

/** A server on a fixed port and file, so it can stop and come back at the same address. */
async function restartable(port: number): Promise<TestApp> {
  return startTestApp({ dir, db: join(dir, "restart.sqlite"), args: ["--grpc-listen", `127.0.0.1:${port}`, "--shutdown-grace-ms", "200"] });
}

describe("Node SDK: gateway and resilience", { timeout: 60_000 }, () => {
  it("watch resumes by itself across a server restart: every persisted event once, in order", async () => {
    const port = await freePort();
    let app = await restartable(port);
    const client = connect(`127.0.0.1:${port}`, { retry: { initialMs: 50, maxMs: 200 } });
    try {
      const id = await client.tasks.create({ owner: "resume" });
      const seen: WatchTasksResponse[] = [];
      const ac = new AbortController();
      let wake: () => void = () => undefined;
      const reading = (async () => {
        for await (const e of client.watch({ owner: "resume", includeSnapshot: true, signal: ac.signal })) {
          seen.push(e);
          wake();
        }
      })();
      const waitFor = (pred: () => boolean) =>
        new Promise<void>((resolve) => {
          wake = () => pred() && resolve();
          wake();
        });
      const persisted = () => seen.filter((e) => e.event.case === "progress" && e.event.value.persisted);
      await waitFor(() => seen.some((e) => e.event.case === "snapshotEnd"));
      await client.tasks.updateProgress(id, 0.1, { label: "before" });
      await waitFor(() => persisted().length === 1);

      await app.close();
      app = await restartable(port);
      // Written while the watch is reconnecting: the resume must replay it.
      await client.tasks.updateProgress(id, 0.2, { label: "during" });
      await client.tasks.updateProgress(id, 0.3, { label: "after" });
      await waitFor(() => persisted().length >= 3);
      ac.abort();
      await reading;
      const labels = persisted().map((e) => (e.event.case === "progress" ? e.event.value.label : ""));
      assert.deepEqual(labels, ["before", "during", "after"]);
      const sequences = seen.filter((e) => e.event.case !== "snapshot" && e.event.case !== "bookmark").map((e) => e.sequence);
      assert.deepEqual([...sequences].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), sequences, "in order");
      assert.equal(new Set(persisted().map((e) => e.sequence)).size, 3, "no duplicate");
    } finally {
      client.close();
      await app.close();
    }
  });

  it("a watcher that fell behind (RESOURCE_EXHAUSTED) resumes by itself: every persisted event once, in order", async () => {
    const server = await startTestServer({ args: ["--watch-queue", "20"] });
    const client = server.connect();
    try {
      const id = await client.tasks.create({ owner: "behind" });
      const ac = new AbortController();
      const events = client.watch({ owner: "behind", includeSnapshot: true, signal: ac.signal })[Symbol.asyncIterator]();
      while ((await events.next()).value?.event.case !== "snapshotEnd");
      // About 1 KiB each, so the flood outgrows the HTTP/2 windows of a watcher that is not reading.
      const UPDATES = 3000;
      const note = "x".repeat(1000);
      async function* flood() {
        for (let i = 1; i <= UPDATES; i++) yield { message: { case: "update" as const, value: { taskId: id, progress: i / UPDATES, label: `u${i}`, checkpoint: { note } } } };
      }
      const sent = await client.rpc.streamProgress(flood());
      assert.equal(sent.updated, BigInt(UPDATES));
      const labels: string[] = [];
      const sequences: bigint[] = [];
      while (labels.length < UPDATES) {
        const { value, done } = await events.next();
        if (done) break;
        if (value.event.case !== "progress") continue;
        labels.push(value.event.value.label);
        sequences.push(value.sequence);
      }
      ac.abort();
      await events.return?.();
      assert.deepEqual(labels, Array.from({ length: UPDATES }, (_, i) => `u${i + 1}`));
      assert.ok(sequences.every((q, i) => i === 0 || q > sequences[i - 1]!), "strictly increasing");
    } finally {
      await server.close();
    }
  });

  it("a held confirmation re-attaches after a restart and gets the answer given meanwhile", async () => {
    const port = await freePort();
    let app = await restartable(port);
    const client = connect(`127.0.0.1:${port}`, { retry: { initialMs: 50, maxMs: 200 } });
    try {
      const id = await client.tasks.create({ owner: "reattach" });
      const decision = client.tasks.requestConfirmation(id, new Builder().add(Button("go", { label: "Go", action: "go" })));
      decision.catch(() => undefined);
      const pending = await nextConfirmation(client, { taskId: id });
      await app.close();
      app = await restartable(port);
      await app.connect.resolveConfirmation({ confirmationId: pending.id, action: "go" });
      const d = await decision;
      assert.deepEqual([d.ok, d.action, d.confirmationId], [true, "go", pending.id]);
    } finally {
      client.close();
      await app.close();
    }
  });

  it("a call made while the server is down goes through once it is back", async () => {
    const port = await freePort();
    let app = await restartable(port);
    const client = connect(`127.0.0.1:${port}`, { retry: { initialMs: 50, maxMs: 200 } });
    try {
      const id = await client.tasks.create({ owner: "retry" });
      await app.close();
      const during = client.tasks.updateProgress(id, 0.7, { label: "sent while down" });
      await new Promise((resolve) => setTimeout(resolve, 300));
      app = await restartable(port);
      assert.equal((await during).found, true);
      assert.equal((await client.tasks.view(id)).label, "sent while down");
    } finally {
      client.close();
      await app.close();
    }
  });

  it("an outage longer than the retry policy allows is Unavailable", async () => {
    const port = await freePort();
    const client = connect(`127.0.0.1:${port}`, { retry: { initialMs: 20, maxMs: 50, maxElapsedMs: 300 } });
    try {
      const err = await client.tasks.create({ owner: "nobody" }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof Error && err.name === "Unavailable", String(err));
    } finally {
      client.close();
    }
  });

  it("close() ends a watch and a held confirmation", async () => {
    const server = await startTestServer();
    try {
      const client = server.connect();
      const id = await client.tasks.create({ owner: "closing" });
      const decision = client.tasks.requestConfirmation(id, new Builder().add(Button("go", { label: "Go", action: "go" })));
      decision.catch(() => undefined);
      await nextConfirmation(client, { taskId: id });
      const watching = (async () => {
        let n = 0;
        for await (const _ of client.watch({ includeSnapshot: true })) n += 1;
        return n;
      })();
      client.close();
      await assert.rejects(decision, /closed/);
      assert.ok((await watching) >= 0);
    } finally {
      await server.close();
    }
  });

  it("a confirmation's signal stops the wait; the same requestId re-attaches and gets the answer", async () => {
    const server = await startTestServer();
    const client = server.connect();
    try {
      const id = await client.tasks.create({ owner: "abort" });
      const builder = new Builder().add(Button("go", { label: "Go", action: "go" }));
      const ac = new AbortController();
      const first = client.tasks.requestConfirmation(id, builder, { requestId: "ask-1", signal: ac.signal });
      const pending = await nextConfirmation(client, { taskId: id });
      ac.abort(new Error("worker moved on"));
      await assert.rejects(first, /worker moved on/);
      assert.equal((await client.tasks.view(id)).pendingConfirmation?.id, pending.id, "still pending");
      await client.resolveConfirmation(pending.id, { action: "go" });
      const again = await client.tasks.requestConfirmation(id, builder, { requestId: "ask-1" });
      assert.deepEqual([again.confirmationId, again.ok, again.action], [pending.id, true, "go"]);
    } finally {
      await server.close();
    }
  });

  it("watch with afterSequence replays what came after it; past the log's end is SequenceOutOfRange", async () => {
    const server = await startTestServer();
    const client = server.connect();
    try {
      const id = await client.tasks.create({ owner: "replay" });
      let mark: bigint | undefined;
      for await (const e of client.watch({ owner: "replay", includeSnapshot: true })) {
        if (e.event.case === "snapshotEnd") {
          mark = e.sequence;
          break;
        }
      }
      await client.tasks.updateProgress(id, 0.5, { label: "later" });
      for await (const e of client.watch({ owner: "replay", afterSequence: mark! })) {
        assert.equal(e.event.case, "progress");
        assert.ok(e.event.case === "progress" && e.event.value.label === "later");
        break;
      }
      const ahead = await (async () => {
        for await (const _ of client.watch({ afterSequence: 1_000_000_000 })) return undefined;
      })().then(() => undefined, (e: unknown) => e);
      assert.ok(ahead instanceof SequenceOutOfRange, String(ahead));
      assert.equal(ahead.reason, "SEQUENCE_AHEAD");
    } finally {
      await server.close();
    }
  });

  it("speaks TLS: https:// or the tls option, verifying the server against a given CA", async () => {
    const tls = join(ROOT, "clients/python/tests/tls");
    const server = await startTestServer({ args: ["--tls-cert", join(tls, "localhost.crt"), "--tls-key", join(tls, "localhost.key")] });
    const ca = readFileSync(join(tls, "localhost.crt"));
    const clients = [connect(`https://${server.address}`, { tls: { ca } }), connect(server.address, { tls: { ca } })];
    const untrusting = connect(`https://${server.address}`, { retry: { maxElapsedMs: 0 } });
    try {
      for (const c of clients) {
        const id = await c.tasks.create({ owner: "tls" });
        assert.equal((await c.tasks.view(id)).status, "running");
      }
      const refused = await untrusting.tasks.create({ owner: "tls" }).then(() => undefined, (e: unknown) => e);
      assert.ok(refused instanceof Error && /certificate/i.test(refused.message), String(refused));
    } finally {
      for (const c of [...clients, untrusting]) c.close();
      await server.close();
    }
  });

  it("answerers limit who may answer; answeredBy names who did", async () => {
    const server = await startTestServer({
      principals: [
        { name: "worker-1", role: "worker" },
        { name: "alice", role: "user", owner: "alice" },
        { name: "ops", role: "gateway" },
      ],
    });
    try {
      const worker = server.connect("worker-1");
      const id = await worker.tasks.create({ owner: "alice" });
      const decision = worker.tasks.requestConfirmation(id, new Builder().add(Button("go", { label: "Go", action: "go" })), { answerers: ["ops"] });
      decision.catch(() => undefined);
      const pending = await nextConfirmation(server.connect("ops"), { taskId: id });
      assert.deepEqual(pending.answerers, ["ops"]);
      const notHers = await server.connect("alice").resolveConfirmation(pending.id, { action: "go" }).then(() => undefined, (e: unknown) => e);
      assert.ok(notHers instanceof PermissionDenied, String(notHers));
      await server.connect("ops").resolveConfirmation(pending.id, { action: "go" });
      const d = await decision;
      assert.deepEqual([d.ok, d.answeredBy], [true, "ops"]);
    } finally {
      await server.close();
    }
  });

  it("with auth on: a bad token is PermissionDenied; a user sees only its own tasks", async () => {
    const server = await startTestServer({
      principals: [
        { name: "worker-1", role: "worker" },
        { name: "alice", role: "user", owner: "alice" },
        { name: "bob", role: "user", owner: "bob" },
      ],
    });
    try {
      const worker = server.connect("worker-1");
      const id = await worker.tasks.create({ owner: "alice", label: "for alice" });
      assert.equal((await server.connect("alice").tasks.view(id)).label, "for alice");
      const hidden = await server.connect("bob").tasks.view(id).then(() => undefined, (e: unknown) => e);
      assert.ok(hidden instanceof Error && hidden.name === "TaskNotFound");
      const stranger = connect(server.address, { token: "not-a-token" });
      const denied = await stranger.tasks.view(id).then(() => undefined, (e: unknown) => e);
      stranger.close();
      assert.ok(denied instanceof PermissionDenied);
      assert.deepEqual([denied.code, denied.reason], ["UNAUTHENTICATED", "UNAUTHENTICATED"]);
    } finally {
      await server.close();
    }
  });
});
