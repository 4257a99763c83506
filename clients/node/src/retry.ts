// How the SDK waits out an unreachable service: one retry state per logical call, on the
// shared backoff schedule (src/shared/backoff.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay } from "../../../src/shared/backoff.js";
import type { TaskControlError } from "./errors.js";

/** How calls are retried while the service is unreachable (UNAVAILABLE). Times in ms. */
export interface RetryPolicy {
  /** Delay before the first retry. @default 100 */
  readonly initialMs?: number;
  /** No delay is longer. @default 5000 */
  readonly maxMs?: number;
  /**
   * An outage longer than this fails the call with Unavailable; null retries forever. The
   * clock restarts whenever a call gets through, so a held confirmation or a watch survives
   * any number of separate restarts. @default 60000
   */
  readonly maxElapsedMs?: number | null;
}

/** The retry state of one logical call across its attempts. */
export class Retry {
  private retries = 0;
  private since: number | undefined;

  constructor(private readonly policy: RetryPolicy) {}

  /** Forgets the outage: the call got through. */
  reset(): void {
    this.retries = 0;
    this.since = undefined;
  }

  /** Sleeps before the next attempt, or throws `error` once the outage lasted too long. */
  async wait(error: TaskControlError, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    this.since ??= now;
    const delay = Math.max(
      error.retryDelayMs ?? 0,
      backoffDelay(this.retries, { initialMs: this.policy.initialMs ?? 100, maxMs: this.policy.maxMs ?? 5000, jitter: 0.2 }),
    );
    const limit = this.policy.maxElapsedMs === undefined ? 60_000 : this.policy.maxElapsedMs;
    if (limit !== null && now + delay - this.since > limit) throw error;
    this.retries += 1;
    // Aborted while waiting: the caller's reason, not the timer's AbortError.
    await sleep(delay, undefined, { signal }).catch((err: unknown) => {
      throw signal?.aborted ? signal.reason : err;
    });
  }
}
