import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** The repository root (where package.json is). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A server running as a child process (for restarts, kill -9 and other languages). */
export interface ServerProcess {
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly child: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
  /** Sends a signal (SIGKILL for crash tests) and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/** Options of startServerProcess. */
export interface ServerProcessOptions {
  db: string;
  /** Fixed ports, so a restarted server is found where clients left it; 0 picks free ones. */
  grpcPort?: number;
  httpPort?: number;
  args?: string[];
  env?: Record<string, string>;
  /** How long to wait for the serving line. @default 30000 */
  timeoutMs?: number;
  /**
   * "dist" runs the compiled server (`node dist/src/main.js`, what `npm start` runs; build it
   * first, e.g. with scripts/build-if-stale.mjs) instead of the sources through tsx.
   * @default "tsx"
   */
  entry?: "tsx" | "dist";
}

/** Starts `node --import tsx src/main.ts` (or the compiled server) and resolves when it prints its serving line. */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(options.entry === "dist" ? ["dist/src/main.js"] : ["--import", "tsx", "src/main.ts"]),
      "--grpc-listen",
      `127.0.0.1:${options.grpcPort ?? 0}`,
      "--http-listen",
      `127.0.0.1:${options.httpPort ?? 0}`,
      "--db",
      options.db,
      ...(options.args ?? []),
    ],
    { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const line = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start in time:\n${out}`));
    }, options.timeoutMs ?? 30_000);
    const check = () => {
      const m = out.match(/taskcontrol serving grpc=(\S+) http=(\S+)/);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(m);
      }
    };
    child.stdout!.on("data", check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before serving:\n${out}`));
    });
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    grpcAddress: line[1]!,
    httpAddress: line[2]!,
    child,
    output: () => out,
    stop: () => kill("SIGTERM"),
    kill,
    exited,
  };
}

/** A port that was free a moment ago (for restarts on the same address). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
