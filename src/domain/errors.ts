/**
 * The one error vocabulary of the domain. Each transport maps `code` to its status in one
 * place; messages are written for the caller and never carry driver text.
 */

/** The domain's failure kinds; their names follow the gRPC codes they map to. */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "failed_precondition"
  | "out_of_range"
  | "resource_exhausted"
  | "unavailable"
  | "permission_denied";

/** Base of every error the domain raises on purpose. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request field is malformed or past a limit; names the field. */
export class InvalidArgumentError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super("invalid_argument", `${field}: ${message}`);
  }
}

/** The named task or confirmation does not exist (or belongs to someone else). */
export class NotFoundError extends DomainError {
  constructor(message: string) {
    super("not_found", message);
  }
}

/** The change is illegal in the current state (AIP-216). */
export class FailedPreconditionError extends DomainError {
  constructor(message: string) {
    super("failed_precondition", message);
  }
}

/** The service cannot take the call now (not open yet, or draining); retry later. */
export class UnavailableError extends DomainError {
  constructor(message: string) {
    super("unavailable", message);
  }
}

/** A resume point older than the retained event log. */
export class OutOfRangeError extends DomainError {
  constructor(
    message: string,
    readonly oldestSequence: number,
  ) {
    super("out_of_range", message);
  }
}

/** A bound was hit: message size, a slow watcher's queue, a stream cap. */
export class ResourceExhaustedError extends DomainError {
  constructor(message: string) {
    super("resource_exhausted", message);
  }
}

/** The caller is known but may not do this. */
export class PermissionDeniedError extends DomainError {
  constructor(message: string) {
    super("permission_denied", message);
  }
}
