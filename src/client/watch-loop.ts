// The reconnecting WatchTasks loop shared by taskctl and the web monitor (no Node or DOM APIs).
// List-then-watch as in Kubernetes: a snapshot first, then on any drop resume with
// after_sequence = the last sequence seen, so a reconnecting client misses nothing.
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type {
  TaskControlService,
  WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { backoffDelay } from "../shared/backoff.js";

/** What the loop is doing now; UIs show it ("live", "reconnecting in 2 s", "sign in"). */
export type WatchState =
  | { readonly kind: "connecting" }
  | { readonly kind: "live"; readonly resumed: boolean }
  | {
      readonly kind: "reconnecting";
      readonly attempt: number;
      readonly retryInMs: number;
      readonly reason: string;
    }
  | { readonly kind: "unauthenticated"; readonly reason: string }
  | { readonly kind: "denied"; readonly reason: string }
  | { readonly kind: "stopped" };

/** Options of startWatchLoop; times are milliseconds. */
export interface WatchLoopOptions {
  /** The client to watch with (any transport). */
  readonly client: Client<typeof TaskControlService>;
  /** WatchTasksRequest.owner; empty means the caller's own (or everyone's with auth off). */
  readonly owner?: string;
  /** WatchTasksRequest.task_ids; empty means all of the owner's tasks. */
  readonly taskIds?: readonly string[];
  /** Every event, in stream order, snapshot included. */
  onEvent(event: WatchTasksResponse): void;
  /** Called before each fresh snapshot (first connect, or history gone): forget all tasks. */
  onResync?(): void;
  /** Called on every state change. */
  onState?(state: WatchState): void;
  /** First retry delay. @default 500 */
  readonly initialBackoffMs?: number;
  /** Retry delay cap. @default 8000 */
  readonly maxBackoffMs?: number;
  /** A stream silent this long (no event, not even a bookmark) is dropped and resumed. @default 45000 */
  readonly idleTimeoutMs?: number;
  /** Source of jitter in [0, 1); tests pass a constant. @default Math.random */
  readonly random?: () => number;
}

/** Handle of a running loop. */
export interface WatchLoop {
  /** Ends the loop and its stream for good. */
  stop(): void;
  /** Reconnects now (e.g. after the user entered a token), keeping the resume point. */
  restart(): void;
  /** The sequence the next reconnect resumes after; undefined until a snapshot completed. */
  lastSequence(): bigint | undefined;
  /** Resolves once the loop stopped. */
  readonly done: Promise<void>;
}

/**
 * Watches with include_snapshot=true, then after any stream error (or a stream that ends)
 * reconnects with exponential backoff and jitter, resuming with after_sequence. OUT_OF_RANGE
 * (history gone) starts over with a snapshot. UNAUTHENTICATED / PERMISSION_DENIED park the
 * loop until restart() is called.
 */
export function startWatchLoop(options: WatchLoopOptions): WatchLoop {
  const initial = options.initialBackoffMs ?? 500;
  const cap = options.maxBackoffMs ?? 8000;
  const idleMs = options.idleTimeoutMs ?? 45_000;
  const random = options.random ?? Math.random;
  let stopped = false;
  let lastSeq: bigint | undefined;
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;
  let skipDelay = false;
  let state: WatchState = { kind: "connecting" };

  const setState = (next: WatchState): void => {
    state = next;
    options.onState?.(next);
  };

  // Sleeps until the delay passes or restart()/stop() wakes it.
  const pause = (ms: number | undefined): Promise<void> =>
    new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done(): void {
        if (timer !== undefined) clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  async function runOnce(): Promise<string> {
    const controller = new AbortController();
    current = controller;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = (): void => {
      if (idle !== undefined) clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error("no event or bookmark for too long")), idleMs);
    };
    const resume = lastSeq;
    if (resume === undefined) options.onResync?.();
    let snapshotDone = resume !== undefined;
    try {
      armIdle();
      const stream = options.client.watchTasks(
        {
          owner: options.owner ?? "",
          taskIds: [...(options.taskIds ?? [])],
          includeSnapshot: resume === undefined,
          afterSequence: resume,
        },
        {
          signal: controller.signal,
          onHeader: () => {
            attempt = 0;
            setState({ kind: "live", resumed: resume !== undefined });
          },
        },
      );
      for await (const event of stream) {
        armIdle();
        if (state.kind !== "live") {
          attempt = 0;
          setState({ kind: "live", resumed: resume !== undefined });
        }
        const kind = event.event.case;
        if (kind === "snapshotEnd") {
          snapshotDone = true;
          lastSeq = event.sequence;
        } else if (snapshotDone && kind !== "snapshot") {
          if (lastSeq === undefined || event.sequence > lastSeq) lastSeq = event.sequence;
        }
        options.onEvent(event);
      }
      return "the stream ended";
    } finally {
      if (idle !== undefined) clearTimeout(idle);
      controller.abort();
      if (current === controller) current = undefined;
    }
  }

  let attempt = 0;
  async function loop(): Promise<void> {
    setState({ kind: "connecting" });
    while (!stopped) {
      let reason: string;
      try {
        reason = await runOnce();
      } catch (err) {
        if (stopped) break;
        const ce = ConnectError.from(err);
        if (ce.code === Code.Unauthenticated || ce.code === Code.PermissionDenied) {
          setState({
            kind: ce.code === Code.Unauthenticated ? "unauthenticated" : "denied",
            reason: ce.rawMessage,
          });
          await pause(undefined);
          attempt = 0;
          continue;
        }
        if (ce.code === Code.OutOfRange) lastSeq = undefined;
        reason = ce.rawMessage || Code[ce.code] || "error";
      }
      if (stopped) break;
      if (skipDelay) {
        skipDelay = false;
        continue;
      }
      attempt += 1;
      const retryInMs = backoffDelay(attempt - 1, { initialMs: initial, maxMs: cap, jitter: 0.5 }, random);
      setState({ kind: "reconnecting", attempt, retryInMs, reason });
      await pause(retryInMs);
    }
    setState({ kind: "stopped" });
  }

  const done = loop();
  return {
    stop() {
      stopped = true;
      current?.abort();
      wake?.();
    },
    restart() {
      attempt = 0;
      skipDelay = current !== undefined;
      current?.abort();
      wake?.();
    },
    lastSequence: () => lastSeq,
    done,
  };
}
