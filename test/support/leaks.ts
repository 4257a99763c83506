import { AssertionError } from "node:assert";

/**
 * Fails a test file that leaves a socket, a server, a child process, a stream or a ref'd
 * timer behind. Take the baseline before anything starts, check after everything stopped:
 *
 *   const leaks = trackLeaks();
 *   after(async () => { await t.close(); await leaks.check(); });
 *
 * It compares process.getActiveResourcesInfo() (what keeps the event loop alive: unref'd
 * timers are not listed) by kind, waits a little for closes already under way to land, and
 * names the leaked handles it can describe (addresses, pids).
 */
export interface LeakTracker {
  /** Resolves once nothing started since trackLeaks() is still active; throws listing what is. */
  check(options?: { settleMs?: number }): Promise<void>;
}

type Handle = {
  constructor?: { name?: string };
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
  pid?: number;
  spawnargs?: string[];
  address?: () => unknown;
};

const activeHandles = (): Handle[] =>
  (process as unknown as { _getActiveHandles(): Handle[] })._getActiveHandles();

function countByKind(kinds: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of kinds) out.set(k, (out.get(k) ?? 0) + 1);
  return out;
}

/** Kinds (with how many more of each) active now than at the baseline. */
function excess(baseline: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [kind, n] of countByKind(process.getActiveResourcesInfo())) {
    const more = n - (baseline.get(kind) ?? 0);
    if (more > 0) out.set(kind, more);
  }
  return out;
}

function describe(h: Handle): string {
  const name = h.constructor?.name ?? "handle";
  if (h.pid !== undefined) return `${name} pid=${h.pid} ${(h.spawnargs ?? []).join(" ").slice(0, 160)}`;
  if (h.remotePort !== undefined) return `${name} ${h.localAddress}:${h.localPort} -> ${h.remoteAddress}:${h.remotePort}`;
  if (typeof h.address === "function") {
    try {
      return `${name} listening on ${JSON.stringify(h.address())}`;
    } catch {
      return name;
    }
  }
  return name;
}

/** Takes the baseline now (call it at the top of the file, before any before() hook runs). */
export function trackLeaks(): LeakTracker {
  const baseline = countByKind(process.getActiveResourcesInfo());
  const known = new Set(activeHandles());
  return {
    async check(options = {}) {
      // Suites imported together into one process (test/postgres/contract.test.ts) share its
      // handles: a file's check would see the others' servers. Each file checks on its own run.
      if (process.env.TASKCONTROL_TEST_COMPOSED === "1") return;
      // Generous: a peer's close can take a few seconds to land on a loaded machine, and fetch()
      // keeps an idle pooled connection until its own keep-alive timer (the server's 5 s
      // keep-alive hint less one second) closes it. Nothing is waited for when nothing is left.
      const deadline = Date.now() + (options.settleMs ?? 8000);
      // Closing sockets and exiting children report back on a later turn of the loop.
      while (excess(baseline).size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const left = excess(baseline);
      if (left.size === 0) return;
      const kinds = [...left].map(([kind, n]) => `${n} × ${kind}`).join(", ");
      const handles = activeHandles().filter((h) => !known.has(h)).map(describe);
      throw new AssertionError({
        message: `the test file leaked ${kinds}${handles.length ? `:\n  ${handles.join("\n  ")}` : ""}`,
      });
    },
  };
}
