import { WatcherTooSlowError } from "../domain/errors.js";
import type { SequencedEvent } from "../domain/model.js";
import type { EventSink } from "../domain/ports.js";

/** Which events a subscriber wants. */
export interface SubscriptionFilter {
  /** Only this owner's tasks; undefined means every owner. */
  readonly owner?: string | undefined;
  /** Only these tasks; undefined means all (of the owner). */
  readonly taskIds?: ReadonlySet<string> | undefined;
}

/** One subscriber's view of the hub: a bounded queue it drains at its own pace. */
export interface Subscription {
  /**
   * The next event, or "idle" if none came within `idleMs`. Rejects with
   * RESOURCE_EXHAUSTED once the queue overflowed.
   */
  next(idleMs: number): Promise<SequencedEvent | "idle">;
  /** Unsubscribes and frees the queue. */
  close(): void;
  /** Called once if the queue overflows (the subscriber may be parked and not calling next). */
  onFailure(listener: (err: Error) => void): void;
}

/** Options of createEventHub. */
export interface EventHubOptions {
  /**
   * Persisted events a subscriber may have queued before its stream is ended.
   * @default 10000
   */
  maxQueue?: number;
  /**
   * Subscriber offers per turn of the event loop before delivery yields.
   * @default 64
   */
  chunk?: number;
}

interface Entry {
  event: SequencedEvent;
  /** Set for live entries: the task whose latest line this entry carries. */
  liveTask?: string;
}

/**
 * The in-process fan-out. Publishing never waits on a subscriber: it appends to each
 * matching subscriber's queue and wakes it. Live (not persisted) events are coalesced per
 * task while queued (the latest line wins, in the place of the first); persisted events are
 * never dropped, so a subscriber whose queue of them passes the bound is ended with
 * RESOURCE_EXHAUSTED naming the last sequence it received, and resumes from there.
 */
export function createEventHub(options: EventHubOptions = {}) {
  const maxQueue = options.maxQueue ?? 10_000;
  const byOwner = new Map<string, Set<Sub>>();
  const everyOwner = new Set<Sub>();
  const listeners: ((events: readonly SequencedEvent[]) => void)[] = [];
  const chunk = options.chunk ?? 64;
  /** Events published but not yet offered to every subscriber, in order. */
  let backlog: SequencedEvent[] = [];
  let backlogHead = 0;
  /** The event being offered and the subscribers it still goes to. */
  let targets: Sub[] = [];
  let targetIndex = 0;
  let current: SequencedEvent | undefined;
  let draining = false;

  function deliver(): void {
    draining = true;
    let budget = chunk;
    for (;;) {
      while (targetIndex < targets.length) {
        if (budget-- === 0) {
          setImmediate(deliver);
          return;
        }
        targets[targetIndex++]!.offer(current!);
      }
      if (backlogHead === backlog.length) break;
      if (backlogHead > 1024) {
        // Under sustained load the backlog never empties: drop what was delivered.
        backlog = backlog.slice(backlogHead);
        backlogHead = 0;
      }
      const e = backlog[backlogHead++]!;
      current = e;
      targets = [];
      targetIndex = 0;
      for (const sub of everyOwner) if (sub.matches(e)) targets.push(sub);
      const owned = byOwner.get(e.owner);
      if (owned) for (const sub of owned) if (sub.matches(e)) targets.push(sub);
    }
    backlog = [];
    backlogHead = 0;
    targets = [];
    targetIndex = 0;
    current = undefined;
    draining = false;
  }

  class Sub implements Subscription {
    queue: Entry[] = [];
    head = 0;
    persistedQueued = 0;
    /** Created on the first queued live line: most watchers never need one. */
    queuedLive: Map<string, Entry> | null = null;
    waiter: ((e: SequencedEvent | "idle") => void) | null = null;
    failure: Error | null = null;
    lastDelivered = 0;
    closed = false;
    failureListener: ((err: Error) => void) | null = null;

    constructor(readonly filter: SubscriptionFilter) {}

    matches(e: SequencedEvent): boolean {
      if (this.filter.owner !== undefined && e.owner !== this.filter.owner) return false;
      return !this.filter.taskIds || this.filter.taskIds.has(e.taskId);
    }

    offer(e: SequencedEvent): void {
      if (this.closed || this.failure) return;
      const live = e.event.type === "progress" && !e.event.persisted;
      if (live) {
        const queued = this.queuedLive?.get(e.taskId);
        if (queued) {
          queued.event = e;
          return;
        }
      }
      if (this.waiter) {
        const wake = this.waiter;
        this.waiter = null;
        this.record(e);
        wake(e);
        return;
      }
      if (!live && this.persistedQueued >= maxQueue) {
        this.failure = new WatcherTooSlowError(
          `watcher fell more than ${maxQueue} events behind; resume with after_sequence=${this.lastDelivered}`,
          this.lastDelivered,
        );
        this.queue = [];
        this.queuedLive = null;
        this.detach();
        this.failureListener?.(this.failure);
        return;
      }
      const entry: Entry = live ? { event: e, liveTask: e.taskId } : { event: e };
      if (live) (this.queuedLive ??= new Map()).set(e.taskId, entry);
      else this.persistedQueued++;
      this.queue.push(entry);
    }

    record(e: SequencedEvent): void {
      if (!(e.event.type === "progress" && !e.event.persisted)) this.lastDelivered = e.sequence;
    }

    next(idleMs: number): Promise<SequencedEvent | "idle"> {
      if (this.head < this.queue.length) {
        const entry = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Entry;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        if (entry.liveTask !== undefined) this.queuedLive?.delete(entry.liveTask);
        else this.persistedQueued--;
        this.record(entry.event);
        return Promise.resolve(entry.event);
      }
      if (this.failure) return Promise.reject(this.failure);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          if (this.waiter === wake) this.waiter = null;
          resolve("idle");
        }, idleMs);
        const wake = (e: SequencedEvent | "idle"): void => {
          clearTimeout(timer);
          resolve(e);
        };
        this.waiter = wake;
      });
    }

    onFailure(listener: (err: Error) => void): void {
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
      this.queuedLive = null;
      if (this.waiter) {
        const wake = this.waiter;
        this.waiter = null;
        wake("idle");
      }
    }
  }

  const hub = {
    /** Subscribes from now on; pair it with a snapshot or replay read after this call. */
    subscribe(filter: SubscriptionFilter): Subscription {
      const sub = new Sub(filter);
      if (filter.owner === undefined) everyOwner.add(sub);
      else {
        let set = byOwner.get(filter.owner);
        if (!set) byOwner.set(filter.owner, (set = new Set()));
        set.add(sub);
      }
      return sub;
    },

    /**
     * Hands events to every matching subscriber (and internal listeners), in order. Internal
     * listeners run at once; subscribers are offered events in chunks of `chunk`, yielding to
     * the event loop between chunks, so a thousand watchers do not delay the worker's answer.
     */
    publish(events: readonly SequencedEvent[]): void {
      for (const l of listeners) l(events);
      for (const e of events) backlog.push(e);
      if (!draining) deliver();
    },

    /** Internal consumers (the task manager's waits) see every published event first. */
    onPublish(listener: (events: readonly SequencedEvent[]) => void): void {
      listeners.push(listener);
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
