import { createContextKey } from "@connectrpc/connect";
import { InvalidArgumentError } from "../domain/errors.js";

/**
 * Lets a server stream be ended from outside its generator. A watcher that stopped reading
 * leaves the transport parked on the socket's flow control, where the generator cannot throw;
 * when its queue overflows, the service aborts this controller with the error and a transport
 * that supports it (the gRPC listener) ends the call at once. Without it the error is sent
 * when the client reads again (memory stays bounded either way: the queue is dropped).
 */
export const streamAbortKey = createContextKey<AbortController | undefined>(undefined, {
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
