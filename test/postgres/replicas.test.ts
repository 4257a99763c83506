import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { createTask, holdConfirmation, isPersisted, REPLACE_SURFACE, watch } from "../support/flows.js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { createTestDatabase, probePostgres, type TestDatabase } from "../support/pg.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import type {
  GetTaskResponse,
  ResolveConfirmationResponse,
  UpdateProgressResponse,
  WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * Two replicas (child processes, `--db postgres://…`) on one fresh database per group: a
 * worker on one and the user on the other, concurrent writers on both, a replica killed
 * mid-stream, the listening connections terminated, expiry raced by both.
 */

const probe = await probePostgres();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


interface Replica {
  server: ServerProcess;
  client: GrpcTestClient;
}

/** A database and `n` replicas on it, started at once (they migrate the same schema together). */
async function startCluster(n: number, args: string[] = []) {
  const database = await createTestDatabase();
  const started = await Promise.allSettled(
    Array.from({ length: n }, () =>
      startServerProcess({ db: database.url, args: ["--log-level", "warn", ...args] }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(servers.map((s) => s.kill("SIGKILL")));
    await database.drop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const replicas: Replica[] = servers.map((server) => ({ server, client: grpcClient(server.grpcAddress) }));
  return {
    database,
    replicas,
    async stop() {
      for (const r of replicas) r.client.close();
      await Promise.all(replicas.map((r) => r.server.stop()));
      await database.drop();
    },
  };
}

/** The persisted events of the log, as (sequence, type, task) triples. */
async function logOf(database: TestDatabase, after = 0): Promise<string[]> {
  const rows = await database.query<{ sequence: string; type: string; task_id: string }>(
    "select sequence, type, task_id from events where sequence > $1 order by sequence",
    [after],
  );
  return rows.map((r) => `${r.sequence} ${r.type} ${r.task_id}`);
}

const TYPE_OF_CASE: Record<string, string> = {
  taskCreated: "task_created",
  progress: "progress",
  confirmationRequested: "confirmation_requested",
  confirmationResolved: "confirmation_resolved",
  statusChanged: "status_changed",
};

function asLog(events: WatchTasksResponse[]): string[] {
  return events.filter(isPersisted).map((e) => {
    const v = e.event.value as { taskId?: string; task?: { id: string }; confirmation?: { taskId: string } };
    const taskId = v.taskId ?? v.task?.id ?? v.confirmation?.taskId;
    return `${e.sequence} ${TYPE_OF_CASE[e.event.case!]} ${taskId}`;
  });
}

async function maxSequence(database: TestDatabase): Promise<number> {
  const [{ s }] = await database.query<{ s: string | null }>("select max(sequence) as s from events");
  return Number(s ?? 0);
}

describe("replicas on one PostgreSQL", { skip: probe.ok ? false : probe.reason }, () => {
  describe("a worker on one replica, the watcher and the user on the other", () => {
    let cluster: Awaited<ReturnType<typeof startCluster>>;
    let a: Replica;
    let b: Replica;
    before(async () => {
      // No backstop read within a test: whatever crosses fast crossed by NOTIFY.
      cluster = await startCluster(2, ["--pg-catch-up-ms", "60000"]);
      [a, b] = cluster.replicas as [Replica, Replica];
    });
    after(async () => {
      await cluster?.stop();
    });

    it("delivers progress, live lines, the question and the answer across replicas", async () => {
      const ui = watch(b.client, { owner: "crossing", includeSnapshot: true });
      await ui.until((e) => e.some((x) => x.event.case === "snapshotEnd"));
      const task = await createTask(a.client, "crossing", { label: "Importing" });
      await a.client.unary("UpdateProgress", { taskId: task.id, progress: 0.4, label: "Conflict detected", checkpoint: { row: 512 } });
      await a.client.unary("EmitProgress", { taskId: task.id, label: "rows 600/2000" });
      const held = holdConfirmation(a.client, {
        taskId: task.id,
        title: "Replace?",
        components: REPLACE_SURFACE,
        requestId: "import-1",
      });
      const [pending] = await held.waitFor(1);
      const confirmationId = pending!.event.case === "pending" ? pending!.event.value.confirmation!.id : "";
      await ui.until((e) => e.some((x) => x.event.case === "confirmationRequested"), 2000);

      const answeredAt = Date.now();
      const answer = await b.client.unary<ResolveConfirmationResponse>("ResolveConfirmation", {
        confirmationId,
        action: "system.task.confirm_replace",
      });
      assert.equal(answer.confirmation!.state, ConfirmationState.ANSWERED);
      const [, resolved] = await held.waitFor(2, 2000);
      const crossMs = Date.now() - answeredAt;
      assert.ok(crossMs < 2000, `the worker on the other replica got the answer after ${crossMs} ms`);
      assert.equal(resolved!.event.case, "resolved");
      if (resolved!.event.case === "resolved") {
        assert.equal(resolved!.event.value.outcome, ConfirmationState.ANSWERED);
        assert.equal(resolved!.event.value.action, "system.task.confirm_replace");
      }
      await held.done;
      await a.client.unary("CompleteTask", { taskId: task.id, result: { imported: 2000 } });
      await ui.until((e) => e.some((x) => x.event.case === "statusChanged" && x.event.value.task?.status === TaskStatus.SUCCEEDED), 2000);

      const seen = ui.events.filter((e) => e.event.case !== "bookmark" && e.event.case !== "snapshotEnd");
      assert.deepEqual(
        seen.map((e) => (e.event.case === "progress" ? `progress:${e.event.value.persisted}` : e.event.case)),
        [
          "taskCreated",
          "progress:true",
          "progress:false",
          "confirmationRequested",
          "statusChanged",
          "confirmationResolved",
          "statusChanged",
          "statusChanged",
        ],
      );
      const live = seen[2]!.event;
      assert.ok(live.case === "progress" && live.value.label === "rows 600/2000" && live.value.progress === 0.4);
      const persisted = seen.filter(isPersisted).map((e) => Number(e.sequence));
      assert.deepEqual(persisted, [...persisted].sort((x, y) => x - y), "in sequence order");
      assert.deepEqual(asLog(seen), (await logOf(cluster.database)).filter((l) => l.endsWith(task.id)));
      // The other replica's cache followed the events: reads there see the final row.
      const onB = (await b.client.unary<GetTaskResponse>("GetTask", { taskId: task.id })).task!;
      assert.equal(onB.status, TaskStatus.SUCCEEDED);
      assert.equal(onB.revision, 5n);
      ui.cancel();
    });

    it("gives every watcher on either replica every persisted event once, in order, while both write", async () => {
      const start = await maxSequence(cluster.database);
      const watchers = [a, b].map((r) => watch(r.client, { afterSequence: BigInt(start) }));
      const tasks = await Promise.all(Array.from({ length: 20 }, (_, i) => createTask((i % 2 ? a : b).client, `mix-${i % 4}`)));
      let stop = false;
      const lanes = Array.from({ length: 32 }, async (_, lane) => {
        const r = lane % 2 ? a : b;
        for (let n = 0; !stop; n++) {
          const task = tasks[(lane * 3 + n) % tasks.length]!;
          await r.client.unary("UpdateProgress", { taskId: task.id, progress: (n % 100) / 100, label: `lane ${lane} n ${n}` });
        }
      });
      await sleep(2000);
      stop = true;
      await Promise.all(lanes);
      const end = await maxSequence(cluster.database);
      assert.ok(end - start > 500, `only ${end - start} events written`);
      const log = await logOf(cluster.database, start);
      assert.equal(log.length, end - start, "sequences are gap-free");
      for (const w of watchers) {
        await w.until((e) => e.filter(isPersisted).at(-1)?.sequence === BigInt(end), 5000);
        assert.deepEqual(asLog(w.events), log);
        w.cancel();
      }
    });

    it("expires a confirmation once, although both replicas have its timer", async () => {
      const watchers = [a, b].map((r) => watch(r.client, { owner: "expiring" }));
      await sleep(100);
      const tasks = await Promise.all(Array.from({ length: 6 }, () => createTask(a.client, "expiring")));
      const held = tasks.map((t) =>
        holdConfirmation(a.client, { taskId: t.id, title: "Soon", components: REPLACE_SURFACE, timeout: { seconds: 1n, nanos: 500_000_000 } }),
      );
      await Promise.all(held.map((h) => h.waitFor(1)));
      for (const h of held) {
        const [, r] = await h.waitFor(2, 5000);
        assert.equal(r!.event.case === "resolved" && r!.event.value.outcome, ConfirmationState.EXPIRED);
      }
      await sleep(500); // a second expiry, if there were one, would be committed by now
      const ids = tasks.map((t) => t.id);
      const rows = await cluster.database.query<{ task_id: string; n: string }>(
        "select task_id, count(*) as n from events where type = 'confirmation_resolved' and task_id = any($1) group by task_id",
        [ids],
      );
      assert.deepEqual(rows.map((r) => Number(r.n)), ids.map(() => 1));
      for (const w of watchers) {
        await w.until((e) => e.filter((x) => x.event.case === "confirmationResolved").length >= ids.length, 3000);
        const resolved = w.events.filter((x) => x.event.case === "confirmationResolved");
        assert.equal(resolved.length, ids.length);
        assert.ok(resolved.every((x) => x.event.case === "confirmationResolved" && x.event.value.confirmation?.state === ConfirmationState.EXPIRED));
        w.cancel();
      }
    });
  });

  describe("a replica killed mid-stream", () => {
    let cluster: Awaited<ReturnType<typeof startCluster>>;
    before(async () => {
      cluster = await startCluster(2);
    });
    after(async () => {
      await cluster?.stop();
    });

    it("lets the watcher resume on the other replica with nothing lost and nothing twice", async () => {
      const [a, b] = cluster.replicas as [Replica, Replica];
      const start = await maxSequence(cluster.database);
      const tasks = await Promise.all(Array.from({ length: 10 }, () => createTask(b.client, "survivor")));
      const acked = new Map<string, number>(); // label → progress, of acknowledged updates
      let stop = false;
      let ackedAfterKill = 0;
      let killed = false;
      const lanes = Array.from({ length: 24 }, async (_, lane) => {
        const r = lane % 2 ? a : b;
        for (let n = 0; !stop; n++) {
          const label = `lane ${lane} n ${n}`;
          try {
            const res = await r.client.unary<UpdateProgressResponse>("UpdateProgress", {
              taskId: tasks[(lane + n) % tasks.length]!.id,
              progress: n / 1e6,
              label,
            });
            if (res.applied) acked.set(label, n / 1e6);
            if (killed) ackedAfterKill++;
          } catch {
            if (r === a) return; // its replica died under the call: not acknowledged
            throw new Error(`the surviving replica failed a call`);
          }
        }
      });
      // The watcher is on the replica that will die.
      const received: WatchTasksResponse[] = [];
      const first = watch(a.client, { afterSequence: BigInt(start) });
      await sleep(1000);
      await a.server.kill("SIGKILL");
      killed = true;
      await first.done;
      assert.equal((first.error as { code: number }).code, status.UNAVAILABLE);
      received.push(...first.events.filter(isPersisted));
      const resumeAt = received.at(-1)?.sequence ?? BigInt(start);
      const second = watch(b.client, { afterSequence: resumeAt });
      await sleep(1000);
      stop = true;
      await Promise.all(lanes);
      assert.ok(ackedAfterKill > 50, `the surviving replica served only ${ackedAfterKill} updates after the kill`);
      const end = await maxSequence(cluster.database);
      await second.until((e) => e.filter(isPersisted).at(-1)?.sequence === BigInt(end), 5000);
      received.push(...second.events.filter(isPersisted));
      second.cancel();

      const log = await logOf(cluster.database, start);
      assert.equal(log.length, end - start, "sequences are gap-free");
      assert.deepEqual(asLog(received), log, "the stitched stream is exactly the log");
      const labels = new Set(received.flatMap((e) => (e.event.case === "progress" ? [e.event.value.label] : [])));
      const lost = [...acked.keys()].filter((l) => !labels.has(l));
      assert.deepEqual(lost, [], "every acknowledged update reached the watcher");
    });
  });

  describe("the listening connections terminated", () => {
    let cluster: Awaited<ReturnType<typeof startCluster>>;
    before(async () => {
      cluster = await startCluster(2, ["--pg-catch-up-ms", "3000"]);
    });
    after(async () => {
      await cluster?.stop();
    });

    const listeners = async () =>
      (
        await cluster.database.query<{ pid: number }>(
          "select pid from pg_stat_activity where datname = current_database() and application_name like 'taskcontrol-listener%' order by pid",
        )
      ).map((r) => r.pid);

    it("keeps events and live lines coming, by catch-up and then over the new connection", async () => {
      const [a, b] = cluster.replicas as [Replica, Replica];
      const ui = watch(b.client, { owner: "cut" });
      await sleep(100);
      const task = await createTask(a.client, "cut");
      await ui.until((e) => e.some((x) => x.event.case === "taskCreated"), 1500);

      const before = await listeners();
      assert.equal(before.length, 2);
      await cluster.database.query("select pg_terminate_backend(pid) from pg_stat_activity where pid = any($1)", [before]);
      for (let i = 1; i <= 3; i++) await a.client.unary("UpdateProgress", { taskId: task.id, progress: i / 10 });
      await ui.until((e) => e.filter((x) => x.event.case === "progress").length === 3, 8000);

      // Both replicas LISTEN again on new connections...
      const deadline = Date.now() + 10_000;
      let now = await listeners();
      while ((now.length !== 2 || now.some((p) => before.includes(p))) && Date.now() < deadline) {
        await sleep(100);
        now = await listeners();
      }
      assert.equal(now.length, 2);
      assert.ok(now.every((p) => !before.includes(p)), "new listener connections");
      // ...and notifications cross at once again (well inside the 3 s backstop period).
      await sleep(200);
      for (let round = 0; round < 3; round++) {
        const at = Date.now();
        const want = 4 + round;
        await a.client.unary("UpdateProgress", { taskId: task.id, progress: want / 10 });
        await ui.until((e) => e.filter((x) => x.event.case === "progress").length === want, 3000);
        assert.ok(Date.now() - at < 1000, `round ${round}: ${Date.now() - at} ms`);
      }
      // A live line with a checkpoint far past NOTIFY's 8000 bytes still crosses, without it.
      await a.client.unary("EmitProgress", { taskId: task.id, label: "live again", checkpoint: { blob: "x".repeat(60_000) } });
      await ui.until((e) => e.some((x) => x.event.case === "progress" && x.event.value.label === "live again"), 2000);
      const live = ui.events.find((x) => x.event.case === "progress" && x.event.value.label === "live again")!.event;
      assert.ok(live.case === "progress" && !live.value.persisted && live.value.checkpoint === undefined);
      ui.cancel();
    });
  });
});
