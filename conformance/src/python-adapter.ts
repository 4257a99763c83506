/**
 * Client mode for the Python SDK: runs conformance/adapters/python_adapter.py (clients/python
 * on PYTHONPATH) and speaks JSON lines with it, one request per operation.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { JsonValue } from "@bufbuild/protobuf";
import { AdapterError, adapterErrorOf, type SdkAdapter } from "./adapter.js";
import type { WireError } from "./wire.js";

const SCRIPT = fileURLToPath(new URL("../adapters/python_adapter.py", import.meta.url));
const PYTHONPATH = fileURLToPath(new URL("../../clients/python/", import.meta.url));
/** The Debian interpreter, which has python3-grpcio and python3-protobuf (as npm run test:python uses). */
const PYTHON = process.env.PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

/** host:port of a target URL (the form the SDKs take). */
export function hostPort(target: string): string {
  return target.replace(/^https?:\/\//, "").replace(/\/$/, "");
}

export async function startPythonAdapter(options: { target: string; token?: string; python?: string }): Promise<SdkAdapter> {
  const child: ChildProcess = spawn(options.python ?? PYTHON, [SCRIPT, hostPort(options.target), options.token ?? ""], {
    env: { ...process.env, PYTHONPATH: [PYTHONPATH, process.env.PYTHONPATH].filter(Boolean).join(":") },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const waiting = new Map<number, { resolve(v: JsonValue): void; reject(e: unknown): void }>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      for (const w of waiting.values()) w.reject(new Error(`the Python adapter exited (${code}): ${stderr}`));
      waiting.clear();
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const msg = JSON.parse(line) as { ready?: true; id?: number; ok?: JsonValue; error?: WireError };
      if (msg.ready) return resolve();
      const w = waiting.get(msg.id!);
      waiting.delete(msg.id!);
      if (msg.error) w?.reject(new AdapterError({ ...msg.error, metadata: msg.error.metadata ?? {}, violations: msg.error.violations ?? [] }));
      else w?.resolve(msg.ok ?? null);
    });
    void exited.then(() => reject(new Error(`the Python adapter did not start: ${stderr}`)));
  });
  await ready;
  const call = (op: string, args: JsonValue) =>
    new Promise<JsonValue>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  return {
    name: "python",
    call,
    errorOf: adapterErrorOf,
    async reset() {
      await call("reset", {});
    },
    async close() {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
