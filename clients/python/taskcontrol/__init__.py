"""taskcontrol: the asyncio Python SDK of the taskcontrol service.

Workers report progress and ask their user for decisions, the way the seed's
``module_sdk.tasks`` does::

    import taskcontrol

    async with taskcontrol.connect("127.0.0.1:50051") as client:
        task_id = await client.tasks.run_background(owner="alice", label="Install", kind="demo")
        await client.tasks.update_progress(task_id, 0.60, label="Installing engine dependencies")
        await client.tasks.emit_progress(task_id, 0.60, label="install: Collecting torch")
        builder = client.ui.Builder()
        builder.add(client.ui.Button("ok", label="Continue", action="continue"))
        decision = await client.tasks.request_confirmation(task_id, builder)
        await client.tasks.complete(task_id)

Gateways watch tasks and answer confirmations with ``client.watch(...)``,
``client.resolve_confirmation(...)`` and ``client.cancel(...)``.
"""

from taskcontrol import ui
from taskcontrol._convert import to_dict
from taskcontrol.client import BackgroundJob, Client, Decision, JobHandle, RetryPolicy, Tasks, connect
from taskcontrol.errors import (
    AttemptSuperseded,
    ConfirmationNotFound,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    SequenceOutOfRange,
    TaskControlError,
    TaskNotFound,
    Unavailable,
)

__all__ = [
    "AttemptSuperseded",
    "BackgroundJob",
    "Client",
    "ConfirmationNotFound",
    "Decision",
    "FailedPrecondition",
    "InvalidArgument",
    "JobHandle",
    "PermissionDenied",
    "RetryPolicy",
    "SequenceOutOfRange",
    "TaskControlError",
    "TaskNotFound",
    "Tasks",
    "Unavailable",
    "connect",
    "to_dict",
    "ui",
]
