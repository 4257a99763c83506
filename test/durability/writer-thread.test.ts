import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { grpcClient } from "../support/grpc-client.js";
import { healthClient } from "../support/health-client.js";
import { createTask } from "../support/flows.js";
import { ROOT, startServerProcess } from "../support/server-process.js";
import type { GetTaskResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * The SQLite writer thread (src/store/sqlite-writer.ts) ends under a running server. It holds
 * the only write connection, and the server cannot know whether the commit it was running
 * when it ended was kept: the server must acknowledge nothing more and stop, so its
 * supervisor restarts it on what was committed. test/support/writer-thread-ends.mjs ends the
 * thread between a COMMIT and its answer, the worst moment (the rows are durable, the caller
 * was not told).
 */

const dir = mkdtempSync(join(tmpdir(), "taskcontrol-writer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const PRELOAD = join(ROOT, "test/support/writer-thread-ends.mjs");

describe("the SQLite writer thread ends", () => {
  it("the unanswered write is refused, nothing after it is acknowledged, health says NOT_SERVING, the process exits 74, and a restart has every commit", async () => {
    const db = join(dir, "w.sqlite");
    // Its answers: 1 the thread opened, 2 CreateTask, 3 and 4 the first two updates, 5 the third.
    const server = await startServerProcess({
      db,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${PRELOAD}`.trim(), TASKCONTROL_TEST_WRITER_ENDS_AT: "5" },
    });
    const client = grpcClient(server.grpcAddress);
    const health = healthClient(server.grpcAddress);
    let taskId = "";
    try {
      const seen: string[] = [];
      const watch = health.watch({ service: "" });
      watch.on("data", (m: { status: string }) => seen.push(m.status));
      watch.on("error", () => undefined);
      const task = await createTask(client, "writer");
      taskId = task.id;
      await client.unary("UpdateProgress", { taskId: task.id, progress: 0.1 });
      await client.unary("UpdateProgress", { taskId: task.id, progress: 0.2 });

      const outcomes: string[] = [];
      for (let i = 0; i < 10 && server.child.exitCode === null; i++) {
        try {
          await client.unary("UpdateProgress", { taskId: task.id, progress: 0.3 + i / 100 });
          outcomes.push("OK");
        } catch (err) {
          outcomes.push(`${grpc.status[(err as grpc.ServiceError).code]}: ${(err as grpc.ServiceError).details}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(server.output(), /writer-thread-ends: dropping answer 5/, "the preload ended the thread");
      assert.ok(!outcomes.includes("OK"), `writes acknowledged after the writer thread ended:\n${outcomes.join("\n")}`);
      assert.match(outcomes[0] ?? "", /^UNAVAILABLE: /, outcomes[0]);

      const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
      assert.equal(code, 74, `exit code; outcomes:\n${outcomes.join("\n")}\noutput:\n${server.output()}`);
      assert.ok(seen.includes("NOT_SERVING"), `Health.Watch saw ${seen.join(",")}`);
      const line = server
        .output()
        .split("\n")
        .map((l) => (l.startsWith("{") ? (JSON.parse(l) as { level: number; msg: string; reason?: string }) : null))
        .find((l) => l !== null && l.level >= 50 && /writer thread/.test(l.reason ?? l.msg));
      assert.ok(line, `no error line naming the writer thread:\n${server.output()}`);
      watch.cancel();
    } finally {
      client.close();
      health.close();
      await server.kill("SIGKILL");
    }

    // The restarted server reads what was committed: the refused third update's COMMIT ran
    // (only its answer was lost), so a retry of it finds it there.
    const again = await startServerProcess({ db });
    const reader = grpcClient(again.grpcAddress);
    try {
      const got = await reader.unary<GetTaskResponse>("GetTask", { taskId });
      assert.equal(got.task!.progress, 0.3, "the committed but unanswered update is there after the restart");
      await reader.unary("UpdateProgress", { taskId, progress: 0.5 });
    } finally {
      reader.close();
      await again.stop();
    }
  });
});
