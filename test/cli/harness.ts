// Test harness shared by the CLI and browser suites: the server child process (from
// test/support), a worker client, and taskctl runs through its launcher.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The repository root (tests run the server and taskctl from it). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The shared helper's handle: grpcAddress, httpAddress, stop(), kill(), output(). */
export type { ServerProcess as ServerHandle } from "../support/server-process.js";
/** Starts `src/main.ts` as a child process and waits for its serving line. */
export { startServerProcess as startServer, freePort } from "../support/server-process.js";

/** A worker's client over native gRPC to the server's gRPC listener. */
export function workerClient(grpcAddress: string): Client<typeof TaskControlService> {
  return createClient(TaskControlService, createGrpcTransport({ baseUrl: `http://${grpcAddress}` }));
}

/** A running `bin/taskctl.mjs` whose stdout is collected line by line. */
export interface TaskctlRun {
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the first line (now or later) matching; rejects after timeoutMs. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Exit status (signal exits give null). */
  readonly exited: Promise<number | null>;
}

/** Starts taskctl through its launcher, as a user would (`npx taskctl …`). */
export function taskctl(args: readonly string[], env: Record<string, string> = {}): TaskctlRun {
  const child = spawn(process.execPath, ["bin/taskctl.mjs", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    waitForLine(match, timeoutMs = 30_000) {
      const hit = lines.find(match);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no matching line in ${timeoutMs} ms; stdout:\n${lines.join("\n")}\nstderr:\n${err}`));
        }, timeoutMs);
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

/** Runs taskctl to the end; resolves with status and output. */
export async function taskctlDone(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string[]; stderr: string }> {
  const run = taskctl(args, env);
  const code = await run.exited;
  return { code, stdout: run.lines, stderr: run.stderr() };
}

/** Rejects with a message naming what hung, instead of letting a test time out silently. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * SIGTERM and the exit code. A server that has not exited after `ms` is killed and the test
 * fails with the tail of its output, so a hanging drain is reported, not hidden.
 */
export async function stopServer(server: import("../support/server-process.js").ServerProcess, ms = 20_000): Promise<number | null> {
  try {
    return await within(server.stop(), ms, "server exit after SIGTERM");
  } catch (err) {
    await server.kill("SIGKILL");
    throw new Error(`${(err as Error).message}; server output (tail):\n${server.output().slice(-4000)}`);
  }
}
