/**
 * The one error vocabulary of the domain. Each error is a typed value carrying what a client
 * needs: the status it maps to (`code`), a stable machine-readable `reason` (sent as
 * google.rpc.ErrorInfo), `metadata` for acting on it, and for INVALID_ARGUMENT the bad
 * fields. One function per transport turns it into a status with details; messages are
 * written for people and never carry driver text. Clients read the details, not the message.
 */

/** The domain's failure kinds; their names follow the gRPC codes they map to. */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "failed_precondition"
  | "out_of_range"
  | "resource_exhausted"
  | "unavailable"
  | "permission_denied"
  | "unauthenticated";

/**
 * Every ErrorInfo reason the service sends (domain "taskcontrol"). Stable: clients branch on
 * them, and the README lists them. Add, never rename.
 */
export const REASONS = {
  INVALID_ARGUMENT: "a request field is malformed or past a limit; see BadRequest",
  TASK_NOT_FOUND: "no such task (or it belongs to another owner)",
  CONFIRMATION_NOT_FOUND: "no such confirmation (or its task belongs to another owner)",
  ILLEGAL_TRANSITION: "the task's status does not allow the change; metadata task_status",
  ALREADY_RESOLVED: "the confirmation was already answered, expired or cancelled; metadata confirmation_state",
  CONFIRMATION_PENDING: "the task already waits on another confirmation; metadata confirmation_id",
  REQUEST_ID_CONFLICT: "the request_id was already used for a different request",
  ATTEMPT_SUPERSEDED: "the call's attempt is not the task's current one (ClaimTask handed it on); nothing changed; metadata current_attempt, attempt",
  WATCHER_TOO_SLOW: "the watcher fell too far behind; metadata resume_after_sequence",
  SEQUENCE_COMPACTED: "after_sequence left the retained event log; metadata oldest_sequence",
  SEQUENCE_AHEAD: "after_sequence is ahead of the event log; metadata latest_sequence",
  STREAM_LIMIT: "the principal holds too many open streams; metadata limit",
  MESSAGE_TOO_LARGE: "a message is past the size limit",
  UNAUTHENTICATED: "no valid bearer token",
  PERMISSION_DENIED: "the principal's role or owner does not allow the call",
  NOT_AN_ANSWERER: "the confirmation names who may answer and the caller is not one of them; metadata confirmation_id",
  NOT_READY: "the service is starting; retry after RetryInfo's delay",
  SHUTTING_DOWN: "the service is draining; retry (on another replica) after RetryInfo's delay",
  STORE_UNAVAILABLE: "the database cannot commit now; nothing was acknowledged",
  CANCELLED: "the call was cancelled",
  DEADLINE_EXCEEDED: "the call's deadline passed",
  UNIMPLEMENTED: "no such method (or a protocol the listener does not serve)",
  INTERNAL: "an unexpected server error (logged with the request id)",
} as const;

/** A stable ErrorInfo reason. */
export type ErrorReason = keyof typeof REASONS;

/** One bad request field: its request path (e.g. `components[2].id`) and what is wrong. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Base of every error the domain raises on purpose. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly reason: ErrorReason,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Request fields are malformed or past a limit; names each field by its request path. */
export class InvalidArgumentError extends DomainError {
  /** The first (often the only) bad field. */
  readonly field: string;
  readonly violations: readonly FieldViolation[];

  constructor(field: string, description: string);
  constructor(violations: readonly FieldViolation[], metadata?: Record<string, string>);
  constructor(fieldOrViolations: string | readonly FieldViolation[], descriptionOrMetadata: string | Record<string, string> = "") {
    const violations =
      typeof fieldOrViolations === "string"
        ? [{ field: fieldOrViolations, description: String(descriptionOrMetadata) }]
        : fieldOrViolations;
    const metadata = typeof descriptionOrMetadata === "string" ? {} : descriptionOrMetadata;
    super("invalid_argument", violations.map((v) => `${v.field}: ${v.description}`).join("; "), "INVALID_ARGUMENT", metadata);
    this.violations = violations;
    this.field = violations[0]?.field ?? "";
  }

  /** The same violations with each field under `prefix` (e.g. `messages[3].`). */
  under(prefix: string): InvalidArgumentError {
    return new InvalidArgumentError(this.violations.map((v) => ({ field: prefix + v.field, description: v.description })));
  }
}

/** The named task or confirmation does not exist (or belongs to someone else). */
export class NotFoundError extends DomainError {
  constructor(message: string, reason: "TASK_NOT_FOUND" | "CONFIRMATION_NOT_FOUND" = "TASK_NOT_FOUND") {
    super("not_found", message, reason);
  }
}

/** The change is illegal in the current state (AIP-216). */
export class FailedPreconditionError extends DomainError {
  constructor(
    message: string,
    reason: "ILLEGAL_TRANSITION" | "ALREADY_RESOLVED" | "CONFIRMATION_PENDING" | "REQUEST_ID_CONFLICT" | "ATTEMPT_SUPERSEDED",
    metadata: Record<string, string> = {},
  ) {
    super("failed_precondition", message, reason, metadata);
  }
}

/** The service cannot take the call now; the caller may retry after `retryAfterMs`. */
export class UnavailableError extends DomainError {
  constructor(
    message: string,
    reason: "NOT_READY" | "SHUTTING_DOWN" | "STORE_UNAVAILABLE" = "NOT_READY",
    readonly retryAfterMs = 1000,
  ) {
    super("unavailable", message, reason);
  }
}

/** A resume point outside the retained event log (compacted away, or never reached). */
export class OutOfRangeError extends DomainError {
  constructor(
    message: string,
    readonly oldestSequence: number,
    reason: "SEQUENCE_COMPACTED" | "SEQUENCE_AHEAD" = "SEQUENCE_COMPACTED",
    metadata: Record<string, string> = {},
  ) {
    super("out_of_range", message, reason, { oldest_sequence: String(oldestSequence), ...metadata });
  }
}

/** A slow watcher's queue overflowed: it resumes with after_sequence = `resumeAfterSequence`. */
export class WatcherTooSlowError extends DomainError {
  constructor(
    message: string,
    readonly resumeAfterSequence: number,
  ) {
    super("resource_exhausted", message, "WATCHER_TOO_SLOW", { resume_after_sequence: String(resumeAfterSequence) });
  }
}

/** A bound was hit: a stream cap or a message size. */
export class ResourceExhaustedError extends DomainError {
  constructor(message: string, reason: "STREAM_LIMIT" | "MESSAGE_TOO_LARGE", metadata: Record<string, string> = {}) {
    super("resource_exhausted", message, reason, metadata);
  }
}

/** The caller is known but may not do this. */
export class PermissionDeniedError extends DomainError {
  constructor(message: string, reason: "PERMISSION_DENIED" | "NOT_AN_ANSWERER" = "PERMISSION_DENIED", metadata: Record<string, string> = {}) {
    super("permission_denied", message, reason, metadata);
  }
}

/** The caller could not be identified (no token, a malformed one, or one not in the auth file). */
export class UnauthenticatedError extends DomainError {
  constructor(message: string) {
    super("unauthenticated", message, "UNAUTHENTICATED");
  }
}
