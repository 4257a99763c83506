import type { EventFilter } from "./event-filter.js";
import type { Confirmation, SequencedEvent, Task, TaskEvent, TaskStatus } from "./model.js";

/**
 * A batch's view of state while a Mutation is applied. Reads see the committed state plus
 * the changes of earlier mutations of the same batch; writes are kept only if apply returns.
 */
export interface Working {
  /** The batch's clock, the same for every mutation of the batch. */
  readonly now: number;
  task(id: string): Task | null;
  taskByRequestId(requestId: string): Task | null;
  confirmation(id: string): Confirmation | null;
  confirmationByRequest(taskId: string, requestId: string): Confirmation | null;
  putTask(task: Task): void;
  putConfirmation(confirmation: Confirmation): void;
  /** Records a persisted event; it gets its sequence in the committing transaction. */
  emit(event: TaskEvent): void;
}

/**
 * The rows a Mutation may read; the store loads the ones it does not hold before apply.
 * PENDING confirmations are always held, so a task's pending confirmation needs no key.
 */
export interface MutationKeys {
  readonly tasks?: readonly string[];
  readonly taskRequestIds?: readonly string[];
  readonly confirmations?: readonly string[];
  readonly confirmationRequests?: readonly { readonly taskId: string; readonly requestId: string }[];
}

/**
 * A state change, applied by the store at flush time against the latest committed state so
 * that every rule sees the truth, then committed with the rest of its batch.
 */
export interface Mutation<R> {
  readonly keys: MutationKeys;
  /** Pure with respect to the Working view; throws a DomainError to refuse (nothing is kept). */
  apply(working: Working): R;
}

/** What a committed mutation returned and the events it made, with their sequences. */
export interface Committed<R> {
  readonly value: R;
  readonly events: readonly SequencedEvent[];
}

/** A page query over tasks, newest first; `before` is the last row of the previous page. */
export interface TaskQuery {
  readonly owner?: string;
  readonly statuses?: readonly TaskStatus[];
  readonly limit: number;
  readonly before?: { readonly createTime: number; readonly id: string };
}

/** The store the domain needs: group-committed mutations, committed reads, the event log. */
export interface TaskStore {
  /** Applies and commits a mutation; resolves only after its transaction committed. */
  mutate<R>(mutation: Mutation<R>): Promise<Committed<R>>;
  /** The committed task, cache first. */
  getTask(id: string): Promise<Task | null>;
  /** The committed task if the cache holds it; never touches the database. */
  peekTask(id: string): Task | undefined;
  /** Every unfinished task (held in memory), newest first (in no order with `unordered`), filtered. */
  activeTasks(filter: { owner?: string; taskIds?: ReadonlySet<string>; unordered?: boolean }): Task[];
  listTasks(query: TaskQuery): Promise<Task[]>;
  getConfirmation(id: string): Promise<Confirmation | null>;
  /** Every PENDING confirmation (held in memory). */
  pendingConfirmations(): Confirmation[];
  /** Persisted events with sequence > after, in order, at most `limit`. */
  readEvents(after: number, limit: number): Promise<SequencedEvent[]>;
  /** One task's persisted events with sequence > after, in order, at most `limit`. */
  readTaskEvents(taskId: string, after: number, limit: number): Promise<SequencedEvent[]>;
  /** The last committed sequence (0 when the log is empty). */
  lastSequence(): number;
  /** The oldest sequence still retained; replay from before it is impossible. */
  oldestRetainedSequence(): Promise<number>;
  /** Called after each commit with its events in sequence order, before callers resume. */
  onCommit(listener: (events: readonly SequencedEvent[]) => void): void;
}

/** Where events go after commit (and where live lines go without one). */
export interface EventSink {
  publish(events: readonly SequencedEvent[]): void;
}

/** The timers expiry runs on; node's (unref'd) by default, a fake in tests. */
export interface Timers {
  /** Calls `fn` once after `ms`; the timer must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer setTimeout returned (a fired or cancelled one is ignored). */
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd, looked up at each call (so node:test mock timers apply). */
export const NODE_TIMERS: Timers = Object.freeze({
  setTimeout(fn: () => void, ms: number): unknown {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});

/** What a WatchTasks stream carries, before it is turned into protocol messages. */
export type WatchItem =
  | { readonly kind: "snapshot"; readonly sequence: number; readonly task: Task; readonly pending: Confirmation | null }
  | { readonly kind: "snapshot_end"; readonly sequence: number }
  | { readonly kind: "event"; readonly event: SequencedEvent }
  | { readonly kind: "bookmark"; readonly sequence: number };

/** A WatchTasks request in domain terms (the owner already scoped to the principal). */
export interface WatchRequest extends EventFilter {
  readonly includeSnapshot: boolean;
  /** Replay persisted events after this sequence; undefined: no replay. */
  readonly afterSequence?: number | undefined;
}

/** Options of one watch. */
export interface WatchOptions {
  /**
   * Idle time after which a bookmark is sent.
   * @default 15000
   */
  bookmarkMs?: number;
  /** Events per replay read. @default 1000 */
  replayPage?: number;
  /** Most tasks in a snapshot. @default 10000 */
  snapshotLimit?: number;
  /**
   * Told at once when the subscriber's queue overflows, even if the consumer is parked (an
   * object, not a function: a listener bound per held watch costs a few hundred bytes).
   */
  onOverflow?: OverflowListener;
}

/** Told when a watch's queue overflowed (see WatchOptions.onOverflow). */
export interface OverflowListener {
  overflowed(err: Error): void;
}

/**
 * What the domain reads of a call's end: an AbortSignal's flag and reason, and "abort"
 * listeners given as objects (handleEvent). An AbortSignal is one; the gRPC listener gives
 * its held streams a lighter one (an AbortSignal, an EventTarget with its maps, is most of a
 * kilobyte per held stream).
 */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: AbortListener): void;
}

/** A listener of a CallSignal: an object, so that a held stream needs no closure for it. */
export interface AbortListener {
  handleEvent(): void;
}

/** Runs the list-then-watch procedure of one stream (events/watch.ts over the hub and the store). */
export type WatchSource = (request: WatchRequest, signal: CallSignal, options: WatchOptions) => AsyncIterable<WatchItem>;
