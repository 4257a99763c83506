import { OutOfRangeError } from "../domain/errors.js";
import { matchesFilter } from "../domain/event-filter.js";
import type { SequencedEvent } from "../domain/model.js";
import type { CallSignal, TaskStore, WatchItem, WatchOptions, WatchRequest, WatchSource } from "../domain/ports.js";
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
 *
 * The catch-up is a generator that ends when the stream is live; the live part, where a held
 * watch spends its life, is a plain iterator over the subscription (WatchStream): no
 * suspended generator, its frame and promises, per idle watch.
 */
export function watchTasks(
  deps: { hub: EventHub; store: TaskStore },
  request: WatchRequest,
  signal: CallSignal,
  options: WatchOptions = {},
): AsyncIterableIterator<WatchItem> {
  return new WatchStream(deps, request, signal, options);
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

const isPersisted = (e: SequencedEvent): boolean => !(e.event.type === "progress" && !e.event.persisted);

class WatchStream implements AsyncIterableIterator<WatchItem> {
  private sub: Subscription | null = null;
  private catchUp: AsyncGenerator<WatchItem, number> | null = null;
  private cursor = 0;
  private done = false;
  private readonly bookmarkMs: number;
  /** What start() needs; let go once it ran (a held watch keeps only what the live part reads). */
  private opening: { request: WatchRequest; options: WatchOptions } | null;
  /** While the catch-up runs only. */
  private onCatchUp: ((r: IteratorResult<WatchItem, number>) => IteratorResult<WatchItem> | Promise<IteratorResult<WatchItem>>) | null = null;
  private readonly onLive: (next: SequencedEvent | "idle") => IteratorResult<WatchItem> | Promise<IteratorResult<WatchItem>>;
  private readonly onError: (err: unknown) => never;

  constructor(
    private readonly deps: { hub: EventHub; store: TaskStore },
    request: WatchRequest,
    private readonly signal: CallSignal,
    options: WatchOptions,
  ) {
    this.bookmarkMs = options.bookmarkMs ?? 15_000;
    this.opening = { request, options };
    this.onLive = this.live.bind(this);
    this.onError = this.failed.bind(this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchItem>> {
    if (this.done) return Promise.resolve(DONE);
    const opening = this.opening;
    if (opening) {
      this.opening = null;
      try {
        this.start(opening.request, opening.options);
      } catch (err) {
        this.close();
        return Promise.reject(err);
      }
    }
    if (this.catchUp) return this.catchUp.next().then((this.onCatchUp ??= this.caughtUp.bind(this)), this.onError);
    return Promise.resolve(this.wait());
  }

  return(): Promise<IteratorResult<WatchItem>> {
    this.close();
    const catchUp = this.catchUp;
    this.catchUp = null;
    // A catch-up busy in a read finishes that first (a generator queues the return).
    if (catchUp) return catchUp.return(0).then(() => DONE, () => DONE);
    return Promise.resolve(DONE);
  }

  /** Subscribes (on the first next(), as a generator's body would run). */
  private start(request: WatchRequest, options: WatchOptions): void {
    const { deps } = this;
    const filter: SubscriptionFilter = { owner: request.owner, taskIds: request.taskIds };
    const catchUp = request.includeSnapshot || request.afterSequence !== undefined;
    const sub = deps.hub.subscribe(filter, { hold: catchUp });
    this.sub = sub;
    if (options.onOverflow) sub.onFailure(options.onOverflow);
    // The subscription is its own abort listener (handleEvent closes it): no closure per watch.
    this.signal.addEventListener("abort", sub, { once: true });
    if (catchUp) this.catchUp = catchUpFromLog(deps, request, this.signal, options, sub, filter);
    else {
      this.cursor = deps.store.lastSequence();
      sub.delivered(this.cursor);
    }
  }

  private caughtUp(r: IteratorResult<WatchItem, number>): IteratorResult<WatchItem> | Promise<IteratorResult<WatchItem>> {
    if (this.done) return DONE;
    if (!r.done) return r;
    this.catchUp = null;
    this.onCatchUp = null;
    this.cursor = r.value;
    return this.wait();
  }

  private wait(): IteratorResult<WatchItem> | Promise<IteratorResult<WatchItem>> {
    if (this.signal.aborted) {
      this.close();
      return DONE;
    }
    return this.sub!.next(this.bookmarkMs).then(this.onLive, this.onError);
  }

  private live(next: SequencedEvent | "idle"): IteratorResult<WatchItem> | Promise<IteratorResult<WatchItem>> {
    if (this.done || this.signal.aborted) {
      this.close();
      return DONE;
    }
    if (next === "idle") {
      // Never past an event this watcher has not been given (it may still be queued).
      return { done: false, value: { kind: "bookmark", sequence: Math.max(this.cursor, this.sub!.deliveredThrough()) } };
    }
    if (isPersisted(next)) {
      if (next.sequence <= this.cursor) return this.wait();
      this.cursor = next.sequence;
    }
    return { done: false, value: { kind: "event", event: next } };
  }

  private failed(err: unknown): never {
    this.close();
    throw err;
  }

  /** Frees the subscription; the stream is done. */
  private close(): void {
    if (this.done) return;
    this.done = true;
    if (this.sub) {
      this.signal.removeEventListener("abort", this.sub);
      this.sub.close();
    }
  }
}

/**
 * The snapshot or the replay, then the log read until the subscription's hold can end;
 * returns the sequence the stream has reached (the live part drops queued events up to it).
 */
async function* catchUpFromLog(
  deps: { hub: EventHub; store: TaskStore },
  request: WatchRequest,
  signal: CallSignal,
  options: WatchOptions,
  sub: Subscription,
  filter: SubscriptionFilter,
): AsyncGenerator<WatchItem, number> {
  const replayPage = options.replayPage ?? 1000;
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
    // The snapshot's sequence is the one the store had when the subscription began (the
    // store publishes its cache, its last sequence and the hub together): every later event
    // reached the subscription. If none passed it while the snapshot was sent, the log holds
    // nothing this stream lacks, and it goes live without reading it (two reads per watch
    // opened, and their garbage, while thousands of watchers connect).
    if (sub.release(cursor)) return cursor;
  } else {
    cursor = request.afterSequence!;
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
  }
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
    if (signal.aborted) return cursor;
    if (page.length < replayPage && sub.release(cursor)) break;
  }
  return cursor;
}
