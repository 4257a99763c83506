import { UnavailableError } from "../domain/errors.js";
import type { SequencedEvent } from "../domain/model.js";
import type { Committed, Mutation } from "../domain/ports.js";

/** What one mutation's apply gave: its value, or the error it threw (then nothing of it was kept). */
export type ApplyResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** What a committed attempt at a batch answers the writer. */
export interface BatchOutcome {
  /** One per mutation, in batch order. */
  readonly results: readonly ApplyResult[];
  /** The committed events, in sequence order. */
  readonly events: readonly SequencedEvent[];
  /** For each event, the index in the batch of the mutation that made it. */
  readonly eventOwners: readonly number[];
}

/** Options of createBatchWriter. */
export interface BatchWriterOptions<O extends BatchOutcome> {
  /** Most mutations in one attempt (one transaction). */
  readonly maxBatch: number;
  /** Attempts per batch while they lose to another writer. @default 4 */
  readonly maxAttempts?: number;
  /**
   * Whether an idle writer commits at once (only the calls queued by the same synchronous run
   * join the batch) rather than after a setImmediate tick (every call of this turn of the event
   * loop joins). At once suits a sole writer: a lone call does not wait for the event loop to
   * go round. Where other processes write too, the tick's fewer, larger batches lose fewer races.
   * @default false
   */
  readonly commitAtOnce?: boolean;
  /**
   * One try at a batch: read what it needs (everything again when `retry`), apply the
   * mutations in order, write and commit. Throws to fail; isConflict decides if it is retried.
   */
  attempt(batch: readonly Mutation<unknown>[], retry: boolean): Promise<O>;
  /** Whether a failed attempt lost a race with another writer (re-applying may succeed). */
  isConflict(err: unknown): boolean;
  /** After COMMIT, before any caller is answered; a throw answers them all UNAVAILABLE. */
  committed(outcome: O, size: number): void | Promise<void>;
  /** Told why a batch failed (callers get UNAVAILABLE; the cause is logged, never sent). */
  onError?: (err: unknown) => void;
}

/** The group-commit queue: callers submit, batches commit one at a time, callers resume after. */
export interface BatchWriter {
  /** Queues a mutation; resolves once its batch committed and was published. */
  submit<R>(mutation: Mutation<R>): Promise<Committed<R>>;
  /** Waits for queued mutations to commit, then refuses new ones UNAVAILABLE. */
  close(): Promise<void>;
}

interface Pending {
  mutation: Mutation<unknown>;
  resolve(value: Committed<unknown>): void;
  reject(err: unknown): void;
}

/**
 * Group commit: mutations queue while an attempt is in flight, and the next attempt takes all
 * of them (up to maxBatch), in submission order. Only one attempt runs at a time, so batches
 * commit (and are published) in the order they were taken. A conflict re-runs the whole batch
 * against fresh reads; any other failure, or maxAttempts conflicts, answers every caller of
 * the batch UNAVAILABLE, and the next batch starts afresh.
 */
export function createBatchWriter<O extends BatchOutcome>(options: BatchWriterOptions<O>): BatchWriter {
  const maxAttempts = options.maxAttempts ?? 4;
  const queue: Pending[] = [];
  let flushing: Promise<void> | null = null;
  let closed = false;

  function fail(batch: readonly Pending[], err: unknown): void {
    options.onError?.(err);
    // An UnavailableError that says why (e.g. the database file was lost) reaches callers as is.
    const failure = err instanceof UnavailableError ? err : new UnavailableError("the store could not commit; retry", "STORE_UNAVAILABLE");
    for (const p of batch) p.reject(failure);
  }

  async function flushOnce(): Promise<void> {
    const batch = queue.splice(0, options.maxBatch);
    if (batch.length === 0) return;
    const mutations = batch.map((p) => p.mutation);
    let outcome: O;
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await options.attempt(mutations, attempt > 1);
        break;
      } catch (err) {
        if (options.isConflict(err) && attempt < maxAttempts) continue;
        return fail(batch, err);
      }
    }
    try {
      await options.committed(outcome, batch.length);
    } catch (err) {
      // A listener failed, or the feed closed first: the rows are durable, but the callers
      // cannot be told it went well; a retry with the same request id finds them.
      return fail(batch, err);
    }
    const perCaller = new Map<number, SequencedEvent[]>();
    outcome.eventOwners.forEach((owner, i) => {
      const list = perCaller.get(owner);
      if (list) list.push(outcome.events[i]!);
      else perCaller.set(owner, [outcome.events[i]!]);
    });
    outcome.results.forEach((r, i) => {
      if (r.ok) batch[i]!.resolve({ value: r.value, events: perCaller.get(i) ?? [] });
      else batch[i]!.reject(r.error);
    });
  }

  function schedule(): void {
    if (flushing) return;
    flushing = (async () => {
      // Whatever arrives while this batch commits joins the next (group commit). With
      // commitAtOnce only the calls queued by the same synchronous run (a stream's chunk of
      // messages) join this one: the tick made every lone call wait for the event loop to go
      // round first (p50 2.9x a bare gRPC call under load).
      if (options.commitAtOnce) await Promise.resolve();
      else await new Promise<void>((r) => setImmediate(r));
      while (queue.length > 0) await flushOnce();
    })().finally(() => {
      flushing = null;
      if (queue.length > 0) schedule();
    });
  }

  return {
    submit<R>(mutation: Mutation<R>): Promise<Committed<R>> {
      if (closed) return Promise.reject(new UnavailableError("the store is closed", "SHUTTING_DOWN"));
      return new Promise<Committed<R>>((resolve, reject) => {
        queue.push({ mutation, resolve, reject } as Pending);
        schedule();
      });
    },

    async close() {
      while (flushing) await flushing;
      closed = true;
    },
  };
}
