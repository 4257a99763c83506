// The one retry schedule: exponential backoff with a cap and optional jitter, for every loop
// that reconnects or retries (the watch loop of taskctl and the monitor, the PostgreSQL
// listener and feed, taskctl's confirmation re-attach). Pure TypeScript: the browser uses it.

/** How the delay between retries grows. */
export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  readonly initialMs: number;
  /** No delay is longer than this, in ms. */
  readonly maxMs: number;
  /** Growth per retry. @default 2 */
  readonly factor?: number;
  /**
   * Share of each delay that is random, 0-1: 0.5 waits between half and all of it, so clients
   * that failed together do not retry together. @default 0
   */
  readonly jitter?: number;
}

/**
 * The delay before retry number `retry` (0 for the first retry after a failure), in ms:
 * min(maxMs, initialMs × factor^retry), less up to `jitter` of it at random.
 * `random` returns [0, 1) (Math.random by default; tests pass their own).
 */
export function backoffDelay(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0));
  // Past the cap the exponent only risks overflow: stop growing once there.
  const steps = Math.max(0, Math.floor(retry));
  let base = policy.initialMs;
  for (let i = 0; i < steps && base < policy.maxMs; i++) base *= factor;
  base = Math.min(policy.maxMs, base);
  return Math.round(base * (1 - jitter + jitter * random()));
}
