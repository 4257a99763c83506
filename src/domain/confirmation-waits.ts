import type { Confirmation, SequencedEvent } from "./model.js";
import type { CallSignal, TaskStore, Timers } from "./ports.js";
import { timeoutAnswer } from "./rules.js";
import { endConfirmation, resumeAfter } from "./transitions.js";

/** Longest delay a node timer takes; a later expiry is re-armed when it fires. */
const TIMER_MAX_MS = 2 ** 31 - 1;

type Waiters = Map<string, Set<Waiter>>;

/**
 * One held call: an object that is its own abort listener, not a pair of closures per call
 * (memory per held RequestConfirmation).
 */
class Waiter {
  private resolve: ((c: Confirmation | null) => void) | null;
  constructor(
    readonly id: string,
    resolve: (c: Confirmation | null) => void,
    private readonly signal: CallSignal,
    private readonly waiters: Waiters,
  ) {
    this.resolve = resolve;
  }

  waiting(): boolean {
    return this.resolve !== null;
  }

  /** The confirmation left PENDING. */
  wake(c: Confirmation): void {
    this.settle(c);
  }

  /** The call's signal aborted: no answer. */
  handleEvent(): void {
    this.settle(null);
  }

  private settle(c: Confirmation | null): void {
    const resolve = this.resolve;
    if (!resolve) return;
    this.resolve = null;
    this.signal.removeEventListener("abort", this);
    const set = this.waiters.get(this.id);
    if (set?.delete(this) && set.size === 0) this.waiters.delete(this.id);
    resolve(c);
  }
}

/** Options of createConfirmationWaits. */
export interface ConfirmationWaitsOptions {
  store: TaskStore;
  clock: () => number;
  timers: Timers;
  /** Told when an expiry fails (the store refused: closing, a database fault). */
  onExpiryError: (err: unknown, confirmationId: string) => void;
}

/** The held RequestConfirmation calls and the expiry timers of pending confirmations. */
export interface ConfirmationWaits {
  /** Arms the expiry of a pending confirmation (an overdue one fires at once); idempotent. */
  schedule(c: Confirmation): void;
  /** Sees committed events: arms expiries, clears them and wakes held calls when one ends. */
  onEvents(events: readonly SequencedEvent[]): void;
  /** The confirmation once it leaves PENDING (at once if it has), or null when `signal` aborts first. */
  waitFor(confirmation: Confirmation, signal: CallSignal): Promise<Confirmation | null>;
  /** Number of held calls. */
  held(): number;
  /** Stops every timer; nothing is armed afterwards. */
  close(): void;
}

/**
 * The waiting half of confirmations. Wake-ups come only from committed events (so an answer
 * given on another replica wakes a call held here); expiry is a timer per pending
 * confirmation whose mutation re-checks the row, so a late or duplicate timer is harmless.
 */
export function createConfirmationWaits(options: ConfirmationWaitsOptions): ConfirmationWaits {
  const { store, clock, timers, onExpiryError } = options;
  /** Held RequestConfirmation calls, by confirmation id. */
  const waiters: Waiters = new Map();
  const expiryTimers = new Map<string, unknown>();
  let closed = false;

  function schedule(c: Confirmation): void {
    if (c.state !== "pending" || c.expireTime === null || expiryTimers.has(c.id) || closed) return;
    const delay = Math.max(0, c.expireTime - clock());
    const timer = timers.setTimeout(() => {
      expiryTimers.delete(c.id);
      if (c.expireTime !== null && c.expireTime > clock()) return schedule(c);
      // The row stays the truth: start-up, or another replica's timer, tries again.
      expire(c.id).catch((err: unknown) => onExpiryError(err, c.id));
    }, Math.min(delay, TIMER_MAX_MS));
    expiryTimers.set(c.id, timer);
  }

  async function expire(confirmationId: string): Promise<void> {
    const current = await store.getConfirmation(confirmationId);
    if (!current || current.state !== "pending") return;
    await store.mutate({
      keys: { confirmations: [confirmationId], tasks: [current.taskId] },
      apply(w) {
        const c = w.confirmation(confirmationId);
        if (!c || c.state !== "pending" || c.expireTime === null || c.expireTime > w.now) return;
        // A timeout_action is the answer nobody gave: recorded as such (defaulted, no answerer).
        const taken = timeoutAnswer(c);
        endConfirmation(w, c, taken ? { state: "expired", ...taken, defaulted: true, answerTime: w.now } : { state: "expired" });
        resumeAfter(w, c);
      },
    });
  }

  return {
    schedule,

    onEvents(events) {
      for (const { event } of events) {
        if (event.type === "confirmation_requested") schedule(event.confirmation);
        if (event.type === "confirmation_resolved") {
          const c = event.confirmation;
          const timer = expiryTimers.get(c.id);
          if (timer !== undefined) {
            timers.clearTimeout(timer);
            expiryTimers.delete(c.id);
          }
          const set = waiters.get(c.id);
          if (set) {
            waiters.delete(c.id);
            for (const waiter of set) waiter.wake(c);
          }
        }
      }
    },

    waitFor(confirmation, signal) {
      if (confirmation.state !== "pending") return Promise.resolve(confirmation);
      return new Promise((resolve) => {
        if (signal.aborted) return resolve(null);
        const waiter = new Waiter(confirmation.id, resolve, signal, waiters);
        let set = waiters.get(confirmation.id);
        if (!set) waiters.set(confirmation.id, (set = new Set()));
        set.add(waiter);
        signal.addEventListener("abort", waiter, { once: true });
        // The answer may have committed between the caller's read and this registration.
        store.getConfirmation(confirmation.id).then(
          (c) => {
            if (c && c.state !== "pending" && waiter.waiting()) waiter.wake(c);
          },
          () => undefined,
        );
      });
    },

    held() {
      let n = 0;
      for (const set of waiters.values()) n += set.size;
      return n;
    },

    close() {
      closed = true;
      for (const t of expiryTimers.values()) timers.clearTimeout(t);
      expiryTimers.clear();
    },
  };
}
