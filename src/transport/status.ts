import { Code, ConnectError } from "@connectrpc/connect";

/** Longest status message sent back: domain messages may quote hostile input. */
const MAX_STATUS_MESSAGE = 1024;

/**
 * The error a caller receives, on either listener: a ConnectError as is, anything else
 * INTERNAL without detail (as connect does); the message capped so that an echoed huge field
 * cannot overflow the trailers that carry it.
 */
export function boundedError(err: unknown): ConnectError {
  let ce: ConnectError;
  if (err instanceof ConnectError) ce = err;
  else {
    ce = ConnectError.from(err);
    if (ce.code === Code.Unknown) return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  }
  if (ce.rawMessage.length <= MAX_STATUS_MESSAGE) return ce;
  return new ConnectError(`${ce.rawMessage.slice(0, MAX_STATUS_MESSAGE)}…`, ce.code, ce.metadata, undefined, ce.cause);
}
