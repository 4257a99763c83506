import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorCode, OutOfRangeError } from "../domain/errors.js";

const CODES: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  out_of_range: Code.OutOfRange,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  permission_denied: Code.PermissionDenied,
};

/** Trailer carrying the oldest retained sequence on OUT_OF_RANGE, for clients that re-list. */
export const OLDEST_SEQUENCE_HEADER = "taskcontrol-oldest-sequence";

/**
 * The one mapping from errors to status codes (both listeners use it, the gRPC one through
 * ConnectError's codes, which are gRPC's). Anything that is not a domain error becomes
 * INTERNAL with a generic message; the cause goes to the log, never to the caller.
 */
export function toConnectError(err: unknown, logUnexpected: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const e = new ConnectError(err.message, CODES[err.code]);
    if (err instanceof OutOfRangeError) e.metadata.set(OLDEST_SEQUENCE_HEADER, String(err.oldestSequence));
    return e;
  }
  logUnexpected(err);
  return new ConnectError("internal error", Code.Internal);
}
