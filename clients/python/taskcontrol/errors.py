"""Exceptions raised by the taskcontrol SDK.

Every error the service answers with is raised as a :class:`TaskControlError` (a
``RuntimeError``, like the seed runtime's errors), or one of its subclasses when the SDK
can say more precisely what went wrong.
"""

from __future__ import annotations

from typing import Optional

import grpc


class TaskControlError(RuntimeError):
    """A call to the taskcontrol service failed.

    ``code`` is the gRPC status code the service answered with and ``details`` its message.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


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


def from_rpc_error(
    error: grpc.aio.AioRpcError, not_found: Optional[type[TaskControlError]] = None
) -> TaskControlError:
    """Translates a gRPC error into the SDK exception for its status code.

    ``not_found`` is the class raised for NOT_FOUND (it depends on what the call names);
    :class:`TaskNotFound` if not given.
    """
    code = error.code()
    details = error.details() or ""
    cls: type[TaskControlError]
    if code == grpc.StatusCode.NOT_FOUND:
        cls = not_found or TaskNotFound
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
    return cls(code, details)
