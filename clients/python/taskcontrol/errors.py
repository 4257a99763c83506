"""Exceptions raised by the taskcontrol SDK.

Every error the service answers with is raised as a :class:`TaskControlError` (a
``RuntimeError``, like the seed runtime's errors), or one of its subclasses when the SDK
can say more precisely what went wrong.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional, Sequence

import grpc

try:  # googleapis-common-protos, when installed, owns these names in the descriptor pool
    from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-not-found]
except ImportError:  # the SDK's own generated copies (clients/python/generate.sh)
    from .rpc import error_details_pb2, status_pb2

#: The ErrorInfo domain of the reasons the service defines (listed in the README).
ERROR_DOMAIN = "taskcontrol"

_DETAILS_KEY = "grpc-status-details-bin"


class FieldViolation(NamedTuple):
    """One bad request field: its request path (``progress``, ``values.new_name``) and why."""

    field: str
    description: str


class TaskControlError(RuntimeError):
    """A call to the taskcontrol service failed.

    ``code`` is the gRPC status code the service answered with and ``details`` its message
    (for people). Programs read the structured details the service attaches to every error:
    ``reason`` (a stable ErrorInfo reason such as ``TASK_NOT_FOUND``), ``metadata`` (e.g.
    ``resume_after_sequence``), ``field_violations`` (INVALID_ARGUMENT) and
    ``retry_delay`` (seconds, on UNAVAILABLE while the service starts or drains).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        reason: str = "",
        metadata: Optional[Mapping[str, str]] = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_delay: Optional[float] = None,
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations)
        self.retry_delay = retry_delay


class TaskNotFound(TaskControlError, LookupError):
    """The task does not exist (or belongs to another user): NOT_FOUND."""


class ConfirmationNotFound(TaskControlError, LookupError):
    """The confirmation does not exist (or belongs to another user): NOT_FOUND."""


class InvalidArgument(TaskControlError, ValueError):
    """The service rejected an argument: INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for a
    message past the size limits."""


class FailedPrecondition(TaskControlError):
    """The task or confirmation is not in a state that allows the call, e.g. the task is
    already terminal or the confirmation was already answered: FAILED_PRECONDITION."""


class AttemptSuperseded(FailedPrecondition):
    """The call carried an attempt that is no longer the task's current one: another worker
    (or a supervisor) claimed the task with ``ClaimTask``, so this run must stop. Nothing the
    call asked for was changed. ``current_attempt`` is the task's attempt now (None if the
    service did not say): FAILED_PRECONDITION with reason ``ATTEMPT_SUPERSEDED``."""

    @property
    def current_attempt(self) -> "int | None":
        value = self.metadata.get("current_attempt")
        return int(value) if value is not None and value.isdigit() else None


class PermissionDenied(TaskControlError):
    """The token is missing, unknown or lacks the role for the call: UNAUTHENTICATED or
    PERMISSION_DENIED."""


class Unavailable(TaskControlError):
    """The service stayed unreachable (UNAVAILABLE) for longer than the retry policy allows."""


class SequenceOutOfRange(TaskControlError):
    """``after_sequence`` is older than the event log the service retains: OUT_OF_RANGE.

    The watcher missed events it can no longer replay; re-read the tasks (for instance with
    ``client.tasks.list(...)``) and watch again with ``include_snapshot=True``.
    """


class _Details(NamedTuple):
    reason: str
    metadata: dict[str, str]
    field_violations: list[FieldViolation]
    retry_delay: Optional[float]


def _read_details(error: grpc.aio.AioRpcError) -> _Details:
    """The google.rpc.Status details of ``error`` (from its ``grpc-status-details-bin``)."""
    reason, metadata, violations, retry = "", {}, [], None
    raw = next((v for k, v in (error.trailing_metadata() or ()) if k == _DETAILS_KEY), None)
    if isinstance(raw, (bytes, bytearray)):
        status = status_pb2.Status()
        try:
            status.ParseFromString(bytes(raw))
        except Exception:  # a garbled trailer must not hide the error itself
            status = status_pb2.Status()
        for any_detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            delay = error_details_pb2.RetryInfo()
            if any_detail.Unpack(info):
                if not reason or info.domain == ERROR_DOMAIN:
                    reason, metadata = info.reason, dict(info.metadata)
            elif any_detail.Unpack(bad):
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif any_detail.Unpack(delay):
                retry = delay.retry_delay.seconds + delay.retry_delay.nanos / 1e9
    return _Details(reason, metadata, violations, retry)


def from_rpc_error(
    error: grpc.aio.AioRpcError, not_found: Optional[type[TaskControlError]] = None
) -> TaskControlError:
    """Translates a gRPC error into the SDK exception for its status code and ErrorInfo reason.

    ``not_found`` is the class raised for a NOT_FOUND that carries no reason (an older
    server); the reason decides otherwise.
    """
    code = error.code()
    details = error.details() or ""
    found = _read_details(error)
    cls: type[TaskControlError]
    if found.reason == "CONFIRMATION_NOT_FOUND":
        cls = ConfirmationNotFound
    elif found.reason == "TASK_NOT_FOUND":
        cls = TaskNotFound
    elif code == grpc.StatusCode.NOT_FOUND:
        cls = not_found or TaskNotFound
    elif found.reason == "ATTEMPT_SUPERSEDED":
        cls = AttemptSuperseded
    elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
        cls = InvalidArgument
    elif code == grpc.StatusCode.FAILED_PRECONDITION:
        cls = FailedPrecondition
    elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        cls = PermissionDenied
    elif code == grpc.StatusCode.UNAVAILABLE:
        cls = Unavailable
    elif code == grpc.StatusCode.OUT_OF_RANGE:
        cls = SequenceOutOfRange
    else:
        cls = TaskControlError
    return cls(code, details, *found)
