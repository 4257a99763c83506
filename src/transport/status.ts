import { Code, ConnectError } from "@connectrpc/connect";
import { withReason } from "../service/errors.js";

/** Longest status message sent back: domain messages may quote hostile input. */
const MAX_STATUS_MESSAGE = 1024;

/**
 * The error a caller receives, on either listener: a ConnectError with its details and an
 * ErrorInfo reason (one derived from its code when it has none), anything else INTERNAL
 * without detail (as connect does); the message capped so that an echoed huge field cannot
 * overflow the trailers that carry it.
 */
export function boundedError(err: unknown): ConnectError {
  const ce = withReason(callersFault(err instanceof ConnectError ? err : ConnectError.from(err)));
  if (ce.rawMessage.length <= MAX_STATUS_MESSAGE) return ce;
  const capped = new ConnectError(`${ce.rawMessage.slice(0, MAX_STATUS_MESSAGE)}…`, ce.code, ce.metadata, [], ce.cause);
  capped.details.push(...ce.details);
  return capped;
}

/**
 * connect-node says INTERNAL ("parse binary: …", its one message for it) for a request body
 * protobuf-es cannot decode (bad wire format, a string that is not UTF-8), as if the server
 * were at fault. It is the caller's: INVALID_ARGUMENT, as the gRPC listener answers. The server
 * never parses binary otherwise (responses are serialised, not parsed). The same for a
 * request stream with the wrong number of messages. These are the only places that read
 * connect's message text; test/transport/connect-errors.test.ts fails if connect rewords them.
 */
function callersFault(ce: ConnectError): ConnectError {
  const undecodable = ce.code === Code.Internal && ce.rawMessage.startsWith("parse binary:");
  // A request stream with no message, or a second one for a unary/server-streaming method:
  // connect says UNIMPLEMENTED ("protocol error: …"); the method exists, the request is bad.
  const miscounted = ce.code === Code.Unimplemented && /^protocol error: (missing|received extra) input message/.test(ce.rawMessage);
  if (!undecodable && !miscounted) return ce;
  const e = new ConnectError(`malformed request: ${ce.rawMessage}`, Code.InvalidArgument, ce.metadata, [], ce.cause);
  e.details.push(...ce.details);
  return e;
}
