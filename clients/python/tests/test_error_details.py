"""The SDK's errors carry the service's structured details (google.rpc ErrorInfo, BadRequest),
read from the status trailer, never parsed from the message text."""

from __future__ import annotations

import math

import grpc
import pytest
from conftest import Server, new_owner, run

import taskcontrol
from taskcontrol import errors


def test_not_found_reasons_decide_the_exception(server: Server) -> None:
    async def scenario() -> None:
        async with taskcontrol.connect(server.address) as client:
            with pytest.raises(errors.TaskNotFound) as task_missing:
                await client.tasks.view("t-missing")
            with pytest.raises(errors.ConfirmationNotFound) as confirmation_missing:
                await client.resolve_confirmation("c-missing", "system.task.confirm_replace")
        assert task_missing.value.reason == "TASK_NOT_FOUND"
        assert task_missing.value.code == grpc.StatusCode.NOT_FOUND
        assert confirmation_missing.value.reason == "CONFIRMATION_NOT_FOUND"

    run(scenario())


def test_invalid_argument_lists_field_violations(server: Server) -> None:
    async def scenario() -> None:
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=new_owner(), label="x")
            with pytest.raises(errors.InvalidArgument) as bad:
                await client.tasks.update_progress(task_id, math.nan)
        assert bad.value.reason == "INVALID_ARGUMENT"
        assert [v.field for v in bad.value.field_violations] == ["progress"]
        assert bad.value.field_violations[0].description == "is NaN"

    run(scenario())


def test_illegal_transition_carries_the_task_status(server: Server) -> None:
    async def scenario() -> None:
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=new_owner(), label="x")
            await client.tasks.complete(task_id, {"ok": True})
            with pytest.raises(errors.FailedPrecondition) as late:
                await client.tasks.fail(task_id, "too late")
        assert late.value.reason == "ILLEGAL_TRANSITION"
        assert late.value.metadata == {"task_status": "TASK_STATUS_SUCCEEDED"}

    run(scenario())
