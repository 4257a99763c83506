import { OutOfRangeError } from "../domain/errors.js";
import { matchesFilter } from "../domain/event-filter.js";
import type { TaskStore, WatchItem, WatchOptions, WatchRequest, WatchSource } from "../domain/ports.js";
import type { EventHub, Subscription, SubscriptionFilter } from "./hub.js";

/** The stream's types live with the task manager's port; they are re-exported here. */
export type { WatchItem, WatchOptions, WatchRequest } from "../domain/ports.js";

/** The task manager's WatchSource: watchTasks over this hub and store. */
export function createWatchSource(deps: { hub: EventHub; store: TaskStore }): WatchSource {
  return (request, signal, options) => watchTasks(deps, request, signal, options);
}

/**
 * The list-then-watch procedure (Kubernetes/etcd style). It subscribes first, then reads
 * the snapshot or replays the log, and drops queued persisted events the read already
 * covered, so the stream has no gap and no duplicate: persisted events arrive in strictly
 * increasing sequence. While a snapshot or replay is sent, the subscription holds persisted
 * events back (the log has them): the stream then catches up from the log until nothing
 * passed it by, so a long replay under concurrent writes cannot overflow the queue, and an
 * overflow later names the last sequence the client was actually given. Live lines pass
 * through as they come, stamped with the last persisted sequence.
 */
export async function* watchTasks(
  deps: { hub: EventHub; store: TaskStore },
  request: WatchRequest,
  signal: AbortSignal,
  options: WatchOptions = {},
): AsyncGenerator<WatchItem> {
  const bookmarkMs = options.bookmarkMs ?? 15_000;
  const replayPage = options.replayPage ?? 1000;
  const filter: SubscriptionFilter = { owner: request.owner, taskIds: request.taskIds };
  const catchUp = request.includeSnapshot || request.afterSequence !== undefined;
  const sub: Subscription = deps.hub.subscribe(filter, { hold: catchUp });
  if (options.onOverflow) sub.onFailure(options.onOverflow);
  // The subscription is its own abort listener (handleEvent closes it): no closure per watch.
  signal.addEventListener("abort", sub, { once: true });
  try {
    let cursor: number;
    if (request.includeSnapshot) {
      // The cache and the last sequence change together, synchronously, at each commit.
      cursor = deps.store.lastSequence();
      const tasks = deps.store.activeTasks(filter).slice(0, options.snapshotLimit ?? 10_000);
      const pending = new Map(deps.store.pendingConfirmations().map((c) => [c.id, c] as const));
      for (const task of tasks) {
        const c = task.pendingConfirmationId ? (pending.get(task.pendingConfirmationId) ?? null) : null;
        yield { kind: "snapshot", sequence: cursor, task, pending: c };
      }
      sub.delivered(cursor);
      yield { kind: "snapshot_end", sequence: cursor };
    } else if (request.afterSequence !== undefined) {
      cursor = request.afterSequence;
      let latest = deps.store.lastSequence();
      if (cursor > latest) {
        // Replicas: the client may have seen the point on another replica, whose commits this
        // one has not published yet; the shared log says whether it was reached.
        latest = Math.max(latest, (await deps.store.readEvents(cursor - 1, 1))[0]?.sequence ?? 0);
      }
      if (cursor > latest) {
        // A point the log never reached (a client bug, or a log that was reset): waiting for
        // it would drop every event until then, so refuse like a point that left the log.
        throw new OutOfRangeError(
          `after_sequence ${cursor} is ahead of the event log (latest sequence ${latest}); re-list and watch again`,
          await deps.store.oldestRetainedSequence(),
          "SEQUENCE_AHEAD",
          { latest_sequence: String(latest) },
        );
      }
      sub.delivered(cursor);
    } else {
      cursor = deps.store.lastSequence();
      sub.delivered(cursor);
    }
    if (catchUp) {
      const oldest = await deps.store.oldestRetainedSequence();
      if (cursor + 1 < oldest) {
        throw new OutOfRangeError(
          `${request.includeSnapshot ? "the snapshot's sequence" : "after_sequence"} ${cursor} is older than the retained event log (oldest retained sequence ${oldest}); re-list and watch again`,
          oldest,
        );
      }
      // Read the log until a read reaches its end and no persisted event passed the
      // subscription above what was read; from then on the queue has every later one.
      for (;;) {
        const page = await deps.store.readEvents(cursor, replayPage);
        for (const e of page) {
          cursor = e.sequence;
          if (!matchesFilter(filter, e)) continue;
          sub.delivered(cursor);
          yield { kind: "event", event: e };
        }
        sub.delivered(cursor);
        if (signal.aborted) return;
        if (page.length < replayPage && sub.release(cursor)) break;
      }
    }
    while (!signal.aborted) {
      const next = await sub.next(bookmarkMs);
      if (signal.aborted) return;
      if (next === "idle") {
        // Never past an event this watcher has not been given (it may still be queued).
        yield { kind: "bookmark", sequence: Math.max(cursor, sub.deliveredThrough()) };
        continue;
      }
      const persisted = !(next.event.type === "progress" && !next.event.persisted);
      if (persisted) {
        if (next.sequence <= cursor) continue;
        cursor = next.sequence;
      }
      yield { kind: "event", event: next };
    }
  } finally {
    signal.removeEventListener("abort", sub);
    sub.close();
  }
}
