import { create, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DomainError,
  type ErrorCode,
  type ErrorReason,
  type FieldViolation,
  InvalidArgumentError,
  UnavailableError,
} from "../domain/errors.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

/** The ErrorInfo domain of every reason this service defines. */
export const ERROR_DOMAIN = "taskcontrol";

const CODES: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  out_of_range: Code.OutOfRange,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  permission_denied: Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
};

/** Trailer carrying the oldest retained sequence on OUT_OF_RANGE (kept for older clients). */
export const OLDEST_SEQUENCE_HEADER = "taskcontrol-oldest-sequence";

/** How long a caller should wait before retrying an UNAVAILABLE that carries no delay of its own. */
const DEFAULT_RETRY_MS = 1000;

/** A detail the server attaches to a status. */
type Detail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

/** The ErrorInfo detail for `reason`. */
export function errorInfo(reason: ErrorReason, metadata: Record<string, string> = {}): Detail {
  return { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata } };
}

/** Longest field path or description sent in a detail: they may quote hostile input. */
const MAX_DETAIL_TEXT = 256;
/** Most field violations sent with one error. */
const MAX_VIOLATIONS = 50;

function capped(text: string): string {
  return text.length <= MAX_DETAIL_TEXT ? text : `${text.slice(0, MAX_DETAIL_TEXT)}…`;
}

/** The BadRequest detail listing `violations` (bounded, like the status message). */
function badRequest(violations: readonly FieldViolation[]): Detail {
  const fieldViolations = violations
    .slice(0, MAX_VIOLATIONS)
    .map((v) => ({ field: capped(v.field), description: capped(v.description) }));
  return { desc: BadRequestSchema, value: { fieldViolations } };
}

/** The RetryInfo detail asking the caller to wait `ms`. */
function retryInfo(ms: number): Detail {
  return { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(ms) } };
}

/** The details a domain error carries on the wire. */
function detailsOf(err: DomainError): Detail[] {
  const metadata = Object.fromEntries(Object.entries(err.metadata).map(([k, v]) => [k, capped(v)]));
  const details = [errorInfo(err.reason, metadata)];
  if (err instanceof InvalidArgumentError) details.push(badRequest(err.violations));
  if (err instanceof UnavailableError) details.push(retryInfo(err.retryAfterMs));
  return details;
}

/**
 * The one mapping from errors to statuses (both listeners use it, the gRPC one through
 * ConnectError's codes, which are gRPC's): a domain error becomes its code with ErrorInfo
 * (and BadRequest or RetryInfo) details. Anything that is not a domain error becomes
 * INTERNAL with a generic message; the cause goes to the log, never to the caller.
 */
export function toConnectError(err: unknown, logUnexpected: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const e = new ConnectError(err.message, CODES[err.code], undefined, detailsOf(err));
    if (err.metadata.oldest_sequence !== undefined) e.metadata.set(OLDEST_SEQUENCE_HEADER, err.metadata.oldest_sequence);
    return e;
  }
  logUnexpected(err);
  return new ConnectError("internal error", Code.Internal, undefined, [errorInfo("INTERNAL")]);
}

/** The reason given to a status that was raised without one (by a library, or a transport). */
const FALLBACK_REASONS: Partial<Record<Code, ErrorReason>> = {
  [Code.Canceled]: "CANCELLED",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "MESSAGE_TOO_LARGE",
  [Code.Unavailable]: "SHUTTING_DOWN",
  [Code.Unimplemented]: "UNIMPLEMENTED",
};

/**
 * `ce` with an ErrorInfo detail: the one it has, or one derived from its code (and RetryInfo
 * on UNAVAILABLE), so that every non-OK status a caller sees names a reason.
 */
export function withReason(ce: ConnectError): ConnectError {
  if (ce.code === Code.Unknown) ce = new ConnectError("internal error", Code.Internal, ce.metadata, [], ce.cause);
  if (ce.findDetails(ErrorInfoSchema).length > 0) return ce;
  const reason = FALLBACK_REASONS[ce.code] ?? "INTERNAL";
  const e = new ConnectError(ce.rawMessage, ce.code, ce.metadata, [], ce.cause);
  e.details.push(...ce.details, errorInfo(reason));
  if (ce.code === Code.Unavailable && ce.findDetails(RetryInfoSchema).length === 0) e.details.push(retryInfo(DEFAULT_RETRY_MS));
  return e;
}

/** `google.rpc.Status` of `ce`, encoded for the `grpc-status-details-bin` trailer. */
export function statusDetailsBin(ce: ConnectError): Uint8Array {
  const details: Any[] = ce.details.map((d) =>
    "desc" in d
      ? anyPack(d.desc, create(d.desc, d.value))
      : create(AnySchema, { typeUrl: `type.googleapis.com/${d.type}`, value: d.value }),
  );
  return toBinary(StatusSchema, create(StatusSchema, { code: ce.code, message: ce.rawMessage, details }));
}
