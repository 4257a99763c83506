import { createContextKey } from "@connectrpc/connect";
import { InvalidArgumentError } from "../domain/errors.js";
import type { CallSignal, OverflowListener } from "../domain/ports.js";
import { toConnectError } from "./errors.js";

/**
 * Lets a server stream be ended from outside its generator. A watcher that stopped reading
 * leaves the transport parked on the socket's flow control, where the generator cannot throw;
 * when its queue overflows, the service calls abort() with the error and a transport that
 * supports it (the gRPC listener) ends the call at once. Without it the error is sent when
 * the client reads again (memory stays bounded either way: the queue is dropped). A plain
 * object with one listener, not an AbortController: every held stream has one, and an
 * AbortSignal (an EventTarget with its maps) is most of a kilobyte.
 *
 * It carries the other direction too, for the same reason: `signal`, when the transport gives
 * one, is the call's end as the transport sees it (the client cancelled, the deadline passed,
 * the server drains), what ctx.signal says, without an AbortSignal per held stream.
 */
export class StreamEnd implements OverflowListener {
  private endedWith: { reason: unknown } | undefined;
  private listener: { streamEnded(reason: unknown): void } | null = null;

  constructor(readonly signal?: CallSignal) {}

  /** Ends the stream with `reason` (the first call counts). */
  abort(reason: unknown): void {
    if (this.endedWith) return;
    this.endedWith = { reason };
    this.listener?.streamEnded(reason);
  }

  /** The reason, if the stream was ended. */
  get ended(): { readonly reason: unknown } | undefined {
    return this.endedWith;
  }

  /** A watch's queue overflowed: the stream ends with that error at once (WatchOptions.onOverflow). */
  overflowed(err: Error): void {
    this.abort(toConnectError(err, () => undefined));
  }

  /** The transport's listener (one; null removes it). */
  listen(listener: { streamEnded(reason: unknown): void } | null): void {
    this.listener = listener;
  }
}

export const streamAbortKey = createContextKey<StreamEnd | undefined>(undefined, {
  description: "taskcontrol stream abort",
});

/** What a StreamProgress applied before it ended: counts of messages by outcome. */
export interface StreamProgressCounts {
  updated: number;
  emitted: number;
  notFound: number;
  notApplied: number;
}

/**
 * A StreamProgress ended by an invalid message: INVALID_ARGUMENT naming the message (its
 * index) and how many before it were applied, every persisted one committed. The counts are
 * fields too, for a status mapping that puts them in error details.
 */
export class StreamProgressInvalidError extends InvalidArgumentError {
  constructor(
    /** Index of the invalid message; the `index` messages before it were applied. */
    readonly index: number,
    /** Outcome of the messages before it. */
    readonly applied: Readonly<StreamProgressCounts>,
    cause: InvalidArgumentError,
  ) {
    // The counts go in ErrorInfo's metadata for programs, and in the message for people.
    super(cause.under(`messages[${index}].`).violations, {
      invalid_index: String(index),
      committed: String(applied.updated),
      emitted: String(applied.emitted),
      not_found: String(applied.notFound),
      not_applied: String(applied.notApplied),
    });
    this.message =
      `${this.message}; the ${index} messages before it were applied: ` +
      `${applied.updated} updates committed, ${applied.emitted} emitted, ${applied.notFound} for an unknown task, ` +
      `${applied.notApplied} on an ended task`;
  }
}

/**
 * A server stream's responses as a plain async iterator over another: each item through
 * `item`, the end through `end` (which may throw the stream's final error), every error
 * through `error`. It stands in for an `async function*` that loops `for await` and yields:
 * a held stream keeps one small object instead of a suspended generator with its frame and
 * promises. A `source` that throws when called fails the first next(), as a generator would.
 * The error mapping is one function per method, told the call's `errorContext` with each
 * error: no closure per stream to carry it.
 */
class MappedStream<T, U> implements AsyncIterableIterator<U> {
  private inner: AsyncIterator<T> | undefined;
  private failure: { err: unknown } | undefined;
  private readonly onResult: (r: IteratorResult<T>) => IteratorResult<U>;
  private onError: ((err: unknown) => never) | undefined;

  constructor(
    source: () => AsyncIterable<T>,
    private readonly item: ((value: T) => U) | undefined,
    private readonly end: (() => void) | undefined,
    private error: ErrorMapping | undefined,
    private errorContext?: unknown,
  ) {
    try {
      this.inner = source()[Symbol.asyncIterator]();
    } catch (err) {
      this.failure = { err };
    }
    this.onResult = this.result.bind(this);
    this.onError = error ? this.fail.bind(this) : undefined;
  }

  /** Takes on the error mapping of a wrapper, if it has none: one layer instead of two. */
  adoptErrors(error: ErrorMapping, context: unknown): boolean {
    if (this.error) return false;
    this.error = error;
    this.errorContext = context;
    this.onError = this.fail.bind(this);
    return true;
  }

  private mapError(err: unknown): unknown {
    return this.error ? this.error(err, this.errorContext) : err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<U>> {
    if (!this.inner) {
      const f = this.failure;
      this.failure = undefined;
      if (!f) return Promise.resolve({ done: true, value: undefined });
      return Promise.reject(this.mapError(f.err));
    }
    return this.inner.next().then(this.onResult, this.onError);
  }

  return(value?: unknown): Promise<IteratorResult<U>> {
    const inner = this.inner;
    this.inner = undefined;
    this.failure = undefined;
    const done = { done: true as const, value: value as U };
    if (!inner?.return) return Promise.resolve(done);
    return inner.return(value).then(() => done, this.onError);
  }

  private result(r: IteratorResult<T>): IteratorResult<U> {
    // Errors of the mapping and of the end go through `error` too (they leave this then()).
    try {
      if (r.done) {
        this.inner = undefined;
        this.end?.();
        return r as IteratorResult<U>;
      }
      return { done: false, value: this.item ? this.item(r.value) : (r.value as unknown as U) };
    } catch (err) {
      throw this.mapError(err);
    }
  }

  private fail(err: unknown): never {
    this.inner = undefined;
    throw this.mapError(err);
  }
}

/** Maps a stream's error; `context` is what mapStreamErrors was given for the call. */
export type ErrorMapping = (err: unknown, context: unknown) => unknown;

/** `source`'s items mapped by `item`; `end` runs when it finishes (and may throw). */
export function mapStream<T, U>(source: () => AsyncIterable<T>, item: (value: T) => U, end?: () => void): AsyncIterableIterator<U> {
  return new MappedStream(source, item, end, undefined);
}

/**
 * `source`'s items as they are, every error (also one thrown calling it) through `error`,
 * which is told `context` with it (the call's, so that one mapping serves every call).
 */
export function mapStreamErrors<T>(source: () => AsyncIterable<T>, error: ErrorMapping, context?: unknown): AsyncIterableIterator<T> {
  let inner: AsyncIterable<T>;
  try {
    inner = source();
  } catch (err) {
    return new MappedStream<T, T>(
      () => {
        throw err;
      },
      undefined,
      undefined,
      error,
      context,
    );
  }
  // A handler that already answers with a mapped stream (WatchTasks) takes the mapping itself.
  if (inner instanceof MappedStream && inner.adoptErrors(error, context)) return inner as AsyncIterableIterator<T>;
  return new MappedStream<T, T>(() => inner, undefined, undefined, error, context);
}
