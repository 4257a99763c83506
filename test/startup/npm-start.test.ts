// `npm start` as a container runtime or a supervisor runs it: SIGTERM to the npm process
// reaches the server, which drains and exits, leaving no process behind; a second start with
// no source changed does not rebuild.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/server-process.js";

/** Every live descendant of pid (children first found through ps). */
function descendants(pid: number): number[] {
  let out = "";
  try {
    out = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  } catch {
    return []; // ps exits 1 when there is none
  }
  const kids = out.split("\n").map((l) => Number(l.trim())).filter((n) => n > 0);
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function npmStart(db: string): Promise<{ output: () => string; serving: Promise<void>; exited: Promise<number | null>; pid: number; kill: () => void }> {
  const child = spawn("npm", ["start", "--", "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--db", db], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let onServing: () => void = () => {};
  const serving = new Promise<void>((resolve) => (onServing = resolve));
  const read = (d: Buffer) => {
    out += d.toString();
    if (/taskcontrol serving grpc=/.test(out)) onServing();
  };
  child.stdout.on("data", read);
  child.stderr.on("data", read);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { output: () => out, serving, exited, pid: child.pid!, kill: () => child.kill("SIGKILL") };
}

async function within<T>(p: Promise<T>, ms: number, what: string, out: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms; output:\n${out()}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test("SIGTERM to `npm start` stops the server; a start with nothing changed does not rebuild", { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "taskcontrol-npm-start-"));
  const left: number[] = [];
  try {
    for (const round of [1, 2]) {
      const run = await npmStart(join(dir, "s.sqlite"));
      try {
        await within(run.serving, 120_000, "no serving line", run.output);
        const tree = descendants(run.pid);
        assert.ok(tree.length > 0, "the server runs under npm");
        left.push(...tree);
        if (round === 2) assert.doesNotMatch(run.output(), /web: built/, "nothing changed since the first start: no build");
        process.kill(run.pid, "SIGTERM");
        await within(run.exited, 20_000, "npm did not exit after SIGTERM", run.output);
        // The server must not outlive npm (reparented to PID 1 and still serving).
        const deadline = Date.now() + 10_000;
        while (tree.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(tree.filter(alive), [], `processes left serving after SIGTERM to npm:\n${run.output()}`);
        assert.match(run.output(), /"msg":"stopped"/, "the server drained and stopped");
      } finally {
        if (alive(run.pid)) run.kill();
      }
    }
  } finally {
    for (const pid of left) if (alive(pid)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
});
