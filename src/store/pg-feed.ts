import { UnavailableError } from "../domain/errors.js";
import { backoffDelay } from "../shared/backoff.js";
import type { CommittedChanges, SqlTaskStore } from "./sql-task-store.js";

/** What the feed needs of the store (a SqlTaskStore created with publication "feed"). */
export type FeedStore = Pick<SqlTaskStore, "lastSequence" | "readCommitted" | "publish" | "refresh" | "onLocalCommit">;

/** Options of createPgFeed. */
export interface PgFeedOptions {
  store: FeedStore;
  /**
   * Period of the backstop read of the log, for a notification that never came (listener
   * down, or dropped). 0 turns it off (tests drive the feed by hand).
   * @default 1000
   */
  catchUpMs?: number;
  /** Events per read of the log. @default 1000 */
  pageSize?: number;
  /** Told when a read fails (it is retried with backoff) or the log had a gap. */
  onError?: (err: unknown, what: string) => void;
}

/** Publishes the persisted events of every replica to this one, in sequence order. */
export interface PgFeed {
  /** Another replica says sequences up to `sequence` are committed (a NOTIFY payload). */
  notify(sequence: number): void;
  /** Reads the log now (after a reconnect, or when something suggests the feed is behind). */
  poke(): void;
  /** Resolves once everything committed before the call is published here. */
  catchUp(): Promise<void>;
  /** Stops the timer; local commits still waiting are refused UNAVAILABLE. */
  close(): Promise<void>;
}

interface LocalCommit {
  changes: CommittedChanges;
  last: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The ordered feed of a replica on a shared PostgreSQL. Sequences are contiguous and in
 * commit order (the writer's advisory lock is held to COMMIT), but the replicas learn of each
 * other's commits late: publishing a local commit at once could overtake another replica's
 * earlier sequence, and watchers (which drop anything at or below the last sequence they saw)
 * would lose it. So publication goes strictly from lastSequence()+1:
 *
 * - a local commit that starts right there is published as is, without a read (the fast
 *   path: a lone writer never reads its own commits back);
 * - otherwise the feed reads the log after lastSequence() together with the rows those
 *   events touched (one snapshot) and publishes it; local commits it covered are done.
 *
 * Reads happen when a local commit cannot go first, when another replica NOTIFYs a higher
 * sequence, on poke(), and every catchUpMs as the backstop. One pump runs at a time, so the
 * store sees publications in order.
 */
export function createPgFeed(options: PgFeedOptions): PgFeed {
  const { store } = options;
  const pageSize = options.pageSize ?? 1000;
  const catchUpMs = options.catchUpMs ?? 1000;
  /** Local commits not yet published, by their first sequence. */
  const local = new Map<number, LocalCommit>();
  /** The highest sequence some replica said is committed. */
  let known = 0;
  /** A read was asked for even though no known sequence is ahead (timer, poke, catchUp). */
  let probe = false;
  let pumping: Promise<void> | null = null;
  let again = false;
  let closed = false;
  let interruptBackoff: (() => void) | null = null;
  /** catchUp() calls waiting for a complete read that began after they were made. */
  let waiting: (() => void)[] = [];

  store.onLocalCommit((changes) => {
    const first = changes.events[0]!.sequence;
    const last = changes.events[changes.events.length - 1]!.sequence;
    // A read may have published it already (a notification raced the handover).
    if (last <= store.lastSequence()) return Promise.resolve();
    if (closed) return Promise.reject(new UnavailableError("the feed is closed", "SHUTTING_DOWN"));
    return new Promise<void>((resolve, reject) => {
      local.set(first, { changes, last, resolve, reject });
      known = Math.max(known, last);
      kick();
    });
  });

  function kick(): void {
    if (pumping) {
      again = true;
      return;
    }
    pumping = pump().finally(() => {
      pumping = null;
      if (again && !closed) kick();
    });
  }

  /** Publishes every local commit that is next in line, and settles those already covered. */
  function drainLocal(): void {
    for (;;) {
      const next = local.get(store.lastSequence() + 1);
      if (!next) break;
      local.delete(next.changes.events[0]!.sequence);
      store.publish(next.changes);
      next.resolve();
    }
    const published = store.lastSequence();
    for (const [first, c] of local) {
      if (c.last <= published) {
        local.delete(first);
        c.resolve();
      }
    }
  }

  async function pump(): Promise<void> {
    let failures = 0;
    while (!closed) {
      again = false;
      drainLocal();
      if (known <= store.lastSequence() && local.size === 0 && !probe) break;
      probe = false;
      const covered = waiting;
      waiting = [];
      try {
        const after = store.lastSequence();
        const read = await store.readCommitted(after, pageSize);
        failures = 0;
        if (read.events.length === 0) {
          // Nothing past what is published (a "known" beyond it cannot be read, so it is
          // forgotten; the timer re-checks anyway).
          known = Math.min(known, store.lastSequence());
          for (const w of covered) w();
          if (local.size > 0) await sleep(5); // cannot happen after COMMIT; never spin
          continue;
        }
        if (read.events[0]!.sequence !== after + 1) {
          // The retention trim deleted events this replica had not published: their rows may
          // be stale here. Reload everything, then go on from what the log still holds.
          options.onError?.(
            new Error(`event log gap: published ${after}, the log continues at ${read.events[0]!.sequence}`),
            "gap",
          );
          await store.refresh();
        }
        store.publish(read);
        if (read.events.length === pageSize) {
          probe = true; // more may follow at once
          waiting = [...covered, ...waiting];
        } else {
          for (const w of covered) w();
        }
      } catch (err) {
        waiting = [...covered, ...waiting];
        failures++;
        options.onError?.(err, "read");
        probe = true;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, backoffDelay(failures - 1, { initialMs: 100, maxMs: 5000 }));
          interruptBackoff = () => {
            clearTimeout(t);
            resolve();
          };
        });
        interruptBackoff = null;
      }
    }
    if (closed) settleAllOnClose();
  }

  function settleAllOnClose(): void {
    for (const c of local.values()) c.reject(new UnavailableError("the feed is closed", "SHUTTING_DOWN"));
    local.clear();
    for (const w of waiting.splice(0)) w();
  }

  const timer =
    catchUpMs > 0
      ? setInterval(() => {
          probe = true;
          kick();
        }, catchUpMs)
      : null;
  timer?.unref();

  return {
    notify(sequence) {
      if (closed || !(sequence > store.lastSequence())) return;
      known = Math.max(known, sequence);
      kick();
    },
    poke() {
      if (closed) return;
      probe = true;
      kick();
    },
    catchUp() {
      if (closed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        waiting.push(resolve);
        probe = true;
        kick();
      });
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      interruptBackoff?.();
      await pumping;
      settleAllOnClose();
    },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());
