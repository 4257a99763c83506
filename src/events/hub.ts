import { WatcherTooSlowError } from "../domain/errors.js";
import { type EventFilter, matchesFilter } from "../domain/event-filter.js";
import type { SequencedEvent } from "../domain/model.js";
import type { EventSink, OverflowListener } from "../domain/ports.js";

/** Which events a subscriber wants (the one filter of domain/event-filter.ts). */
export type SubscriptionFilter = EventFilter;

/** One subscriber's view of the hub: a bounded queue it drains at its own pace. */
export interface Subscription {
  /**
   * The next event, or "idle" if none came within `idleMs`. Rejects with
   * RESOURCE_EXHAUSTED once the queue overflowed.
   */
  next(idleMs: number): Promise<SequencedEvent | "idle">;
  /**
   * The sequence up to which every matching persisted event has been handed out by next()
   * (a bookmark may carry it): the hub's last published sequence while nothing is queued,
   * else the last persisted sequence handed out.
   */
  deliveredThrough(): number;
  /**
   * Records that the stream gave the client everything up to `sequence` by other means
   * (a replay or a snapshot): an overflow names the larger of it and what next() handed out.
   */
  delivered(sequence: number): void;
  /**
   * Ends the hold a subscription made with `{ hold: true }` starts in, if every persisted
   * event it let pass is at or below `sequence` (the replay read that far); from now on
   * persisted events queue. False: the replay must read on (events passed above it).
   */
  release(sequence: number): boolean;
  /** Unsubscribes and frees the queue. */
  close(): void;
  /** Closes too: a Subscription is its own listener of the stream's AbortSignal (no closure). */
  handleEvent(): void;
  /** Told once if the queue overflows (the subscriber may be parked and not calling next). */
  onFailure(listener: OverflowListener): void;
}

/** Options of createEventHub. */
export interface EventHubOptions {
  /**
   * Persisted events a subscriber may have queued before its stream is ended.
   * @default 10000
   */
  maxQueue?: number;
  /**
   * Subscribers woken per turn of the event loop before delivery yields.
   * @default 64
   */
  chunk?: number;
}

interface Entry {
  event: SequencedEvent;
  /** Set for live entries: the task whose latest line this entry carries. */
  liveTask?: string;
}

const isLive = (e: SequencedEvent): boolean => e.event.type === "progress" && !e.event.persisted;

/**
 * The in-process fan-out. Publishing appends each event to every matching subscriber's own
 * bounded queue at once (no shared backlog: a subscriber never waits behind events meant
 * for others, and what is held is bounded per subscriber), then hands the new entries out
 * to subscribers in chunks of `chunk`, yielding to the event loop between chunks, so a
 * thousand watchers do not delay the worker's answer. Publishing never waits on a
 * subscriber. Live (not persisted) events are coalesced per task while queued (the latest
 * line wins, in the place of the first); persisted events are never dropped, so a
 * subscriber whose queue of them passes the bound is ended with RESOURCE_EXHAUSTED naming
 * the last sequence it received, and resumes from there.
 */
export function createEventHub(options: EventHubOptions = {}) {
  const maxQueue = options.maxQueue ?? 10_000;
  const chunk = options.chunk ?? 64;
  const byOwner = new Map<string, Set<Sub>>();
  const everyOwner = new Set<Sub>();
  /** The last persisted sequence published: every subscriber's queue has what matched. */
  let published = 0;
  /** Subscribers with entries not handed out yet, in the order they got them. */
  let ready: Sub[] = [];
  let readyHead = 0;
  let draining = false;

  function handOut(): void {
    draining = true;
    let budget = chunk;
    while (readyHead < ready.length) {
      if (budget-- === 0) {
        setImmediate(handOut);
        return;
      }
      const sub = ready[readyHead]!;
      ready[readyHead++] = undefined as unknown as Sub;
      sub.handOut();
    }
    ready = [];
    readyHead = 0;
    draining = false;
  }

  /**
   * The parked next() calls of one idle time, oldest first (a doubly linked list through the
   * subscribers), with one timer for the whole list instead of one per parked call: parking
   * appends, waking unlinks, both O(1); the timer is armed for the oldest deadline and, when it
   * fires, idles out every call whose time has come and re-arms for the next.
   */
  class IdleList {
    head: Sub | null = null;
    tail: Sub | null = null;
    timer: NodeJS.Timeout | null = null;
    private readonly onTimer = this.fire.bind(this);
    constructor(readonly ms: number) {}

    park(sub: Sub): void {
      sub.idle = this;
      sub.idleAt = Date.now() + this.ms;
      sub.prevIdle = this.tail;
      sub.nextIdle = null;
      if (this.tail) this.tail.nextIdle = sub;
      else this.head = sub;
      this.tail = sub;
      // Deadlines grow along the list: an armed timer is due no later than the new one.
      if (!this.timer) this.timer = setTimeout(this.onTimer, this.ms);
    }

    unpark(sub: Sub): void {
      if (sub.prevIdle) sub.prevIdle.nextIdle = sub.nextIdle;
      else this.head = sub.nextIdle;
      if (sub.nextIdle) sub.nextIdle.prevIdle = sub.prevIdle;
      else this.tail = sub.prevIdle;
      sub.idle = sub.prevIdle = sub.nextIdle = null;
      if (!this.head && this.timer) {
        // Nothing parked: no timer left behind (it would hold the process for an idle time).
        clearTimeout(this.timer);
        this.timer = null;
      }
    }

    private fire(): void {
      this.timer = null;
      const now = Date.now();
      while (this.head && this.head.idleAt <= now) this.head.idleOut();
      if (this.head) this.timer = setTimeout(this.onTimer, this.head.idleAt - now);
    }
  }
  const idleLists = new Map<number, IdleList>();
  function idleList(ms: number): IdleList {
    let list = idleLists.get(ms);
    if (!list) idleLists.set(ms, (list = new IdleList(ms)));
    return list;
  }

  class Sub implements Subscription {
    queue: Entry[] = [];
    head = 0;
    /** Entries before this index were handed out (next() may return them). */
    released = 0;
    scheduled = false;
    persistedQueued = 0;
    /** Created on the first queued live line: most watchers never need one. */
    queuedLive: Map<string, Entry> | null = null;
    /** A parked next(): its promise's ends (wake() settles it), and the idle list it waits on. */
    resolveNext: ((e: SequencedEvent | "idle") => void) | null = null;
    rejectNext: ((err: Error) => void) | null = null;
    idle: IdleList | null = null;
    idleAt = 0;
    prevIdle: Sub | null = null;
    nextIdle: Sub | null = null;
    failure: Error | null = null;
    lastDelivered = 0;
    /** While held (a replay runs), persisted events are not queued: the replay reads them. */
    holding: boolean;
    /** The largest persisted sequence let pass while held. */
    passedThrough = 0;
    closed = false;
    failureListener: OverflowListener | null = null;

    constructor(
      readonly filter: SubscriptionFilter,
      hold: boolean,
    ) {
      this.holding = hold;
    }

    offer(e: SequencedEvent): void {
      if (this.closed || this.failure) return;
      const live = isLive(e);
      if (live) {
        const queued = this.queuedLive?.get(e.taskId);
        if (queued) {
          queued.event = e;
          return;
        }
      } else if (this.holding) {
        this.passedThrough = Math.max(this.passedThrough, e.sequence);
        return;
      } else if (this.persistedQueued >= maxQueue) {
        this.failure = new WatcherTooSlowError(
          `watcher fell more than ${maxQueue} events behind; resume with after_sequence=${this.lastDelivered}`,
          this.lastDelivered,
        );
        this.queue = [];
        this.head = this.released = 0;
        this.queuedLive = null;
        this.detach();
        if (this.resolveNext) this.wake(this.failure);
        this.failureListener?.overflowed(this.failure);
        return;
      }
      const entry: Entry = live ? { event: e, liveTask: e.taskId } : { event: e };
      if (live) (this.queuedLive ??= new Map()).set(e.taskId, entry);
      else this.persistedQueued++;
      this.queue.push(entry);
      if (!this.scheduled) {
        this.scheduled = true;
        ready.push(this);
      }
    }

    /** Makes what is queued available to next(), waking a parked reader. */
    handOut(): void {
      this.scheduled = false;
      this.released = this.queue.length;
      if (this.resolveNext && this.head < this.released) this.wake(this.take());
    }

    take(): SequencedEvent {
      const entry = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Entry;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.released -= this.head;
        this.head = 0;
      }
      if (entry.liveTask !== undefined) this.queuedLive?.delete(entry.liveTask);
      else {
        this.persistedQueued--;
        this.delivered(entry.event.sequence);
      }
      return entry.event;
    }

    next(idleMs: number): Promise<SequencedEvent | "idle"> {
      if (this.head < this.released) return Promise.resolve(this.take());
      if (this.failure) return Promise.reject(this.failure);
      return new Promise((resolve, reject) => {
        this.resolveNext = resolve;
        this.rejectNext = reject;
        idleList(idleMs).park(this);
      });
    }

    /** Hands a parked next() its event, "idle", or the overflow that ended the queue. */
    wake(e: SequencedEvent | "idle" | Error): void {
      const resolve = this.resolveNext!;
      const reject = this.rejectNext!;
      this.resolveNext = this.rejectNext = null;
      this.idle?.unpark(this);
      if (e instanceof Error) reject(e);
      else resolve(e);
    }

    /** The parked next() waited its idle time. */
    idleOut(): void {
      // Entries not handed out yet go first: idle would let a bookmark pass them.
      this.wake(this.head < this.queue.length ? this.take() : "idle");
    }

    deliveredThrough(): number {
      return this.head === this.queue.length && !this.holding && !this.failure ? Math.max(published, this.lastDelivered) : this.lastDelivered;
    }

    delivered(sequence: number): void {
      if (sequence > this.lastDelivered) this.lastDelivered = sequence;
    }

    release(sequence: number): boolean {
      if (this.passedThrough > sequence) return false;
      this.holding = false;
      return true;
    }

    onFailure(listener: OverflowListener): void {
      this.failureListener = listener;
    }

    detach(): void {
      if (this.filter.owner === undefined) everyOwner.delete(this);
      else {
        const set = byOwner.get(this.filter.owner);
        set?.delete(this);
        if (set && set.size === 0) byOwner.delete(this.filter.owner);
      }
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      this.detach();
      this.queue = [];
      this.head = this.released = 0;
      this.queuedLive = null;
      if (this.resolveNext) this.wake("idle");
    }

    handleEvent(): void {
      this.close();
    }
  }

  const hub = {
    /**
     * Subscribes from now on; pair it with a snapshot or replay read after this call. With
     * `hold`, persisted events are not queued until release(): the replay that follows reads
     * them from the log, so a long replay cannot overflow the queue (live lines still queue,
     * coalesced per task).
     */
    subscribe(filter: SubscriptionFilter, options: { hold?: boolean } = {}): Subscription {
      const sub = new Sub(filter, options.hold ?? false);
      if (filter.owner === undefined) everyOwner.add(sub);
      else {
        let set = byOwner.get(filter.owner);
        if (!set) byOwner.set(filter.owner, (set = new Set()));
        set.add(sub);
      }
      return sub;
    },

    /**
     * Hands events to every matching subscriber, in order: each matching subscriber's queue
     * takes the events at once, and subscribers are woken `chunk` at a time, yielding to the
     * event loop between chunks. (What must see a commit before the watchers, the task
     * manager, does so in the commit pipeline: events/commit-pipeline.ts.)
     */
    publish(events: readonly SequencedEvent[]): void {
      for (const e of events) {
        if (!isLive(e) && e.sequence > published) published = e.sequence;
        for (const sub of everyOwner) if (matchesFilter(sub.filter, e)) sub.offer(e);
        const owned = byOwner.get(e.owner);
        if (owned) for (const sub of owned) if (matchesFilter(sub.filter, e)) sub.offer(e);
      }
      if (!draining) handOut();
    },

    /** Open subscriptions (for metrics and tests). */
    subscriberCount(): number {
      let n = everyOwner.size;
      for (const set of byOwner.values()) n += set.size;
      return n;
    },
  };
  return hub satisfies EventSink;
}

/** The event hub. */
export type EventHub = ReturnType<typeof createEventHub>;
