// The SDK's typed errors: every failed call becomes a TaskControlError (or a subclass saying
// more), carrying the status code and the google.rpc details programs branch on.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { errorInfo, fieldViolations, retryDelayMs } from "../../../src/client/error-details.js";

/** One bad request field: its request path (`progress`, `values.new_name`) and why. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/**
 * A call to the taskcontrol service failed. `code` is the gRPC status ("NOT_FOUND"),
 * `reason` the stable ErrorInfo reason ("TASK_NOT_FOUND"), `metadata` its key/values
 * (e.g. `resume_after_sequence`), `fieldViolations` the bad fields of an INVALID_ARGUMENT and
 * `retryDelayMs` the server's RetryInfo. Branch on these, never on the message.
 */
export class TaskControlError extends Error {
  override readonly name: string = "TaskControlError";
  /** The gRPC status code's name, e.g. "FAILED_PRECONDITION". */
  readonly code: string;
  /** The status code as connect's enum. */
  readonly grpcCode: Code;
  /** The ErrorInfo reason (domain taskcontrol); "" when the status carried none. */
  readonly reason: string;
  /** The ErrorInfo metadata. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The BadRequest violations (INVALID_ARGUMENT). */
  readonly fieldViolations: readonly FieldViolation[];
  /** RetryInfo's delay in ms (UNAVAILABLE while the server starts or drains). */
  readonly retryDelayMs: number | undefined;

  constructor(err: ConnectError) {
    super(`${codeName(err.code)}: ${err.rawMessage}`, { cause: err });
    const info = errorInfo(err);
    this.grpcCode = err.code;
    this.code = codeName(err.code);
    this.reason = info?.reason ?? "";
    this.metadata = Object.freeze({ ...info?.metadata });
    this.fieldViolations = Object.freeze(fieldViolations(err));
    this.retryDelayMs = retryDelayMs(err);
  }
}

/** The task does not exist (or belongs to another user): NOT_FOUND, TASK_NOT_FOUND. */
export class TaskNotFound extends TaskControlError {
  override readonly name: string = "TaskNotFound";
}
/** The confirmation does not exist (or is another user's): NOT_FOUND, CONFIRMATION_NOT_FOUND. */
export class ConfirmationNotFound extends TaskControlError {
  override readonly name: string = "ConfirmationNotFound";
}
/** A bad argument: INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for a message past the size limit. */
export class InvalidArgument extends TaskControlError {
  override readonly name: string = "InvalidArgument";
}
/** The task or confirmation does not allow the call now (ended, answered): FAILED_PRECONDITION. */
export class FailedPrecondition extends TaskControlError {
  override readonly name: string = "FailedPrecondition";
}
/** A newer attempt holds the task (ClaimTask): FAILED_PRECONDITION, ATTEMPT_SUPERSEDED. */
export class AttemptSuperseded extends FailedPrecondition {
  override readonly name: string = "AttemptSuperseded";
}
/** The token is missing, unknown or lacks the role: UNAUTHENTICATED or PERMISSION_DENIED. */
export class PermissionDenied extends TaskControlError {
  override readonly name: string = "PermissionDenied";
}
/** The service stayed unreachable (UNAVAILABLE) for longer than the retry policy allows. */
export class Unavailable extends TaskControlError {
  override readonly name: string = "Unavailable";
}
/** after_sequence is older than the retained event log (OUT_OF_RANGE): re-list, then watch. */
export class SequenceOutOfRange extends TaskControlError {
  override readonly name: string = "SequenceOutOfRange";
}

/** The error a job gets when its watch saw a newer attempt take the task over. */
export function superseded(taskId: string, current: bigint, ours: number): AttemptSuperseded {
  const info = create(ErrorInfoSchema, {
    reason: "ATTEMPT_SUPERSEDED",
    domain: "taskcontrol",
    metadata: { current_attempt: String(current), attempt: String(ours) },
  });
  const err = new ConnectError(`task ${taskId} was claimed by attempt ${current}`, Code.FailedPrecondition, undefined, [
    { desc: ErrorInfoSchema, value: info },
  ]);
  return new AttemptSuperseded(err);
}

/** "NOT_FOUND" for Code.NotFound. */
export function codeName(code: Code): string {
  return (Code[code] ?? "Unknown").replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase();
}

/**
 * The SDK error for a failed call: by ErrorInfo reason first, then by status code.
 * `notFound` is the class for a NOT_FOUND that names no reason.
 */
export function toSdkError(err: unknown, notFound: typeof TaskControlError = TaskNotFound): TaskControlError {
  if (err instanceof TaskControlError) return err;
  const ce = ConnectError.from(err);
  const reason = errorInfo(ce)?.reason;
  if (reason === "TASK_NOT_FOUND") return new TaskNotFound(ce);
  if (reason === "CONFIRMATION_NOT_FOUND") return new ConfirmationNotFound(ce);
  if (reason === "ATTEMPT_SUPERSEDED") return new AttemptSuperseded(ce);
  switch (ce.code) {
    case Code.NotFound:
      return new notFound(ce);
    case Code.InvalidArgument:
      return new InvalidArgument(ce);
    case Code.ResourceExhausted:
      // A message past the size limit is a bad argument; a full stream budget or a slow watcher is not.
      return reason === "MESSAGE_TOO_LARGE" ? new InvalidArgument(ce) : new TaskControlError(ce);
    case Code.FailedPrecondition:
      return new FailedPrecondition(ce);
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return new PermissionDenied(ce);
    case Code.Unavailable:
      return new Unavailable(ce);
    case Code.OutOfRange:
      return new SequenceOutOfRange(ce);
    default:
      return new TaskControlError(ce);
  }
}
