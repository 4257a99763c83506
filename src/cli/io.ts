// The process surface taskctl touches, passed in so commands never reach for globals
// and tests can run main() with their own streams.
import type { Readable, Writable } from "node:stream";

/** Streams, environment and the stop signal of one taskctl run. */
export interface CliIo {
  /** Where results go (one JSON object per line with --json). */
  readonly stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  /** Where diagnostics and connection states go. */
  readonly stderr: Writable;
  /** Read for in-place confirmation prompts (only when it is a TTY). */
  readonly stdin: Readable & { isTTY?: boolean };
  /** TASKCONTROL_ADDRESS, TASKCONTROL_TOKEN, TASKCONTROL_OWNER. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM: long-running commands (watch, demo) end cleanly. */
  readonly signal: AbortSignal;
}

/** The real process's io; SIGINT/SIGTERM abort its signal instead of killing at once. */
export function processIo(): CliIo {
  const controller = new AbortController();
  const stop = (): void => controller.abort(new Error("interrupted"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  };
}

/** Writes one line. */
export function println(stream: Writable, line = ""): void {
  stream.write(`${line}\n`);
}

/** Exit statuses taskctl documents for scripts. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The server refused or failed the call, or could not be reached. */
  error: 1,
  /** Bad command line. */
  usage: 2,
  /** `demo`: the task was cancelled by its user. */
  cancelled: 3,
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: 130,
} as const;

/** Thrown for command-line mistakes; main() prints it with the usage hint and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
