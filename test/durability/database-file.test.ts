import assert from "node:assert/strict";
import { type HealthClient, healthClient } from "../support/health-client.js";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { grpcClient } from "../support/grpc-client.js";
import { createTask, retrying } from "../support/flows.js";
import { startServerProcess } from "../support/server-process.js";
import type { UpdateProgressResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * The SQLite file under a running server: deleted, replaced, full or read-only, opened by a
 * second process, or on a path that cannot be written. Real server processes, real clients.
 */

const dirs: string[] = [];
const mounts: string[] = [];
after(() => {
  for (const m of mounts.splice(0)) {
    tryRun("fsfreeze", ["-u", m]); // a frozen mount would hold its writers forever
    tryRun("umount", ["-l", m]);
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "taskcontrol-dbfile-"));
  dirs.push(d);
  return d;
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;
/** Mounting a small filesystem needs root; under CI the suite must run as root rather than skip. */
const needsRoot = { skip: !isRoot && process.env.CI !== "true" ? "needs root (mount)" : false } as const;

/** A tmpfs of `size` mounted on a fresh directory (optionally read-only). */
function mountTmpfs(size: string, options = ""): string {
  const dir = tempDir();
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}${options ? `,${options}` : ""}`, "tmpfs", dir]);
  mounts.push(dir);
  return dir;
}

/** A small ext4 on a loop device (tmpfs cannot be frozen), unfrozen and unmounted at the end. */
function mountExt4(): string {
  const dir = tempDir();
  const image = `${dir}.img`;
  dirs.push(image);
  execFileSync("truncate", ["-s", "16M", image]);
  execFileSync("mkfs.ext4", ["-q", "-F", image]);
  execFileSync("mount", ["-o", "loop", image, dir]);
  mounts.push(dir);
  return dir;
}


const healthStatus = (c: HealthClient) =>
  new Promise<string>((resolve, reject) => c.check({ service: "" }, (err, res) => (err ? reject(err) : resolve(res!.status))));

async function readyz(httpAddress: string): Promise<number> {
  return (await fetch(`http://${httpAddress}/readyz`)).status;
}

async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the server as the suite does, expecting it to refuse to start: its exit code and output. */
async function expectRefusal(db: string): Promise<{ code: number | null; output: string }> {
  try {
    const s = await startServerProcess({ db });
    await s.stop();
    throw new assert.AssertionError({ message: `the server started on ${db}:\n${s.output()}` });
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    const m = /server exited with (\S+) before serving:\n([\s\S]*)$/.exec((err as Error).message);
    assert.ok(m, (err as Error).message);
    return { code: m[1] === "null" ? null : Number(m[1]), output: m[2]! };
  }
}

describe("the database file under a running server", () => {
  for (const how of ["deleted", "replaced"] as const) {
    it(`${how}: writes stop being acknowledged at once, health says NOT_SERVING, the process exits 74`, async () => {
      const dir = tempDir();
      const db = join(dir, "t.sqlite");
      const server = await startServerProcess({ db });
      const client = grpcClient(server.grpcAddress);
      const health = healthClient(server.grpcAddress);
      try {
        const task = await createTask(client, "del");
        await client.unary("UpdateProgress", { taskId: task.id, progress: 0.1 });
        const seen: string[] = [];
        const watch = health.watch({ service: "" });
        watch.on("data", (m: { status: string }) => seen.push(m.status));
        watch.on("error", () => undefined);
        await until("Health.Watch says SERVING", async () => seen.includes("SERVING"));

        const removed = Date.now();
        if (how === "deleted") {
          for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
        } else {
          // A restore from a copy, or another file renamed over the path.
          copyFileSync(db, join(dir, "copy.sqlite"));
          renameSync(join(dir, "copy.sqlite"), db);
          rmSync(`${db}-wal`, { force: true });
        }
        // Any write started after the file went is not acknowledged: it would be lost.
        const outcomes: string[] = [];
        for (let i = 0; i < 20 && server.child.exitCode === null; i++) {
          try {
            await client.unary<UpdateProgressResponse>("UpdateProgress", { taskId: task.id, progress: 0.2 + i / 100 });
            outcomes.push("OK");
          } catch (err) {
            outcomes.push(`${grpc.status[(err as grpc.ServiceError).code]}: ${(err as grpc.ServiceError).details}`);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(!outcomes.includes("OK"), `writes acknowledged after the file was ${how}:\n${outcomes.join("\n")}`);
        assert.match(outcomes[0] ?? "", /^UNAVAILABLE: .*(deleted|replaced)/, outcomes[0]);

        const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
        const exitedAt = Date.now();
        assert.equal(code, 74, `exit code; output:\n${server.output()}`);
        assert.ok(seen.includes("NOT_SERVING"), `Health.Watch saw ${seen.join(",")}`);
        const line = server
          .output()
          .split("\n")
          .map((l) => (l.startsWith("{") ? (JSON.parse(l) as { level: number; time: number; msg: string }) : null))
          .find((l) => l !== null && l.level >= 50 && /database/.test(l.msg));
        assert.ok(line, `no error line about the database:\n${server.output()}`);
        assert.ok(line.time - removed < 2000, `detected ${line.time - removed} ms after the file was ${how}`);
        console.log(`# file ${how}: detected after ${line.time - removed} ms, exit 74 after ${exitedAt - removed} ms, ${outcomes.length} writes refused, 0 acknowledged`);
        watch.cancel();
      } finally {
        client.close();
        health.close();
        await server.kill("SIGKILL");
      }
    });
  }

  it("full disk: NOT_SERVING and /readyz 503 while commits fail, SERVING again once they commit", needsRoot, async () => {
    const dir = mountTmpfs("3m");
    const server = await startServerProcess({ db: join(dir, "t.sqlite") });
    const client = grpcClient(server.grpcAddress);
    const health = healthClient(server.grpcAddress);
    try {
      const task = await createTask(client, "full");
      assert.equal(await readyz(server.httpAddress), 200);
      // Fill the filesystem.
      let n = 0;
      try {
        for (;; n++) writeFileSync(join(dir, `fill-${n}`), Buffer.alloc(64 * 1024, 1));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      }
      // Commits of large checkpoints grow the WAL until one cannot be written.
      const checkpoint = { blob: "x".repeat(60 * 1024) };
      let failure: grpc.ServiceError | undefined;
      for (let i = 0; i < 200 && !failure; i++) {
        try {
          await client.unary("UpdateProgress", { taskId: task.id, progress: i / 1000, checkpoint });
        } catch (err) {
          failure = err as grpc.ServiceError;
        }
      }
      assert.ok(failure, "no write failed on a full filesystem");
      assert.equal(failure.code, grpc.status.UNAVAILABLE, failure.message);
      assert.equal(await readyz(server.httpAddress), 503, "/readyz while commits fail");
      assert.equal(await healthStatus(health), "NOT_SERVING");
      assert.equal(server.child.exitCode, null, "a full disk is not fatal");

      for (let i = 0; i < n; i++) unlinkSync(join(dir, `fill-${i}`));
      const freed = Date.now();
      await until("/readyz is 200 again", async () => (await readyz(server.httpAddress)) === 200);
      console.log(`# full disk: not ready from the first failed commit; ready again ${Date.now() - freed} ms after space was freed`);
      assert.equal(await healthStatus(health), "SERVING");
      await client.unary("UpdateProgress", { taskId: task.id, progress: 0.9, checkpoint });
    } finally {
      client.close();
      health.close();
      await server.stop();
    }
  });
});

describe("a database whose file system blocks", () => {
  it("fsfreeze: a write stuck past --db-stall-ms turns NOT_SERVING; the thaw lets it commit and SERVING returns", needsRoot, async () => {
    const dir = mountExt4();
    const server = await startServerProcess({ db: join(dir, "t.sqlite"), args: ["--db-stall-ms", "1000"] });
    const client = grpcClient(server.grpcAddress);
    const health = healthClient(server.grpcAddress);
    let frozen = false;
    try {
      const task = await createTask(client, "frozen");
      execFileSync("fsfreeze", ["-f", dir]);
      frozen = true;
      const started = Date.now();
      const stuck = client.unary<UpdateProgressResponse>("UpdateProgress", { taskId: task.id, progress: 0.5 });
      await until("/readyz is 503", async () => (await readyz(server.httpAddress)) === 503);
      const notReadyAfter = Date.now() - started;
      assert.equal(await healthStatus(health), "NOT_SERVING");
      execFileSync("fsfreeze", ["-u", dir]);
      frozen = false;
      const res = await stuck;
      assert.equal(res.applied, true, "the stuck write commits after the thaw");
      await until("/readyz is 200 again", async () => (await readyz(server.httpAddress)) === 200);
      assert.equal(await healthStatus(health), "SERVING");
      console.log(`# fsfreeze: not ready ${notReadyAfter} ms after the write stuck (--db-stall-ms 1000)`);
    } finally {
      if (frozen) execFileSync("fsfreeze", ["-u", dir]);
      client.close();
      health.close();
      await server.stop();
    }
  });
});

describe("one server per SQLite file", () => {
  it("refuses a second server on the same --db in one line, until the first is gone (even by kill -9)", async () => {
    const dir = tempDir();
    const db = join(dir, "t.sqlite");
    const first = await startServerProcess({ db });
    try {
      const refused = await expectRefusal(db);
      assert.equal(refused.code, 1, refused.output);
      const lines = refused.output.trim().split("\n");
      assert.equal(lines.length, 1, refused.output);
      assert.equal(lines[0], `taskcontrol: the database ${db} is in use by process ${first.child.pid}`);
    } finally {
      await first.kill("SIGKILL");
    }
    const second = await startServerProcess({ db });
    const client = grpcClient(second.grpcAddress);
    try {
      await retrying(() => createTask(client, "second"));
    } finally {
      client.close();
      assert.equal(await second.stop(), 0);
    }
    // A clean stop releases it too.
    const third = await startServerProcess({ db });
    assert.equal(await third.stop(), 0);
  });

  it("start-up on a read-only path says what and where in one line and exits 1", needsRoot, async () => {
    const dir = isRoot ? mountTmpfs("1m", "ro") : tempDir();
    if (!isRoot) execFileSync("chmod", ["555", dir]);
    const db = join(dir, "sub", "t.sqlite");
    const direct = join(dir, "t.sqlite");
    for (const path of [direct, db]) {
      const refused = await expectRefusal(path);
      assert.equal(refused.code, 1, refused.output);
      const lines = refused.output.trim().split("\n");
      assert.equal(lines.length, 1, refused.output);
      assert.match(lines[0]!, new RegExp(`^taskcontrol: cannot open the database ${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: `));
      assert.doesNotMatch(lines[0]!, /SQLITE_CANTOPEN|at .*\.js/);
      assert.match(lines[0]!, /--db/);
    }
  });
});
