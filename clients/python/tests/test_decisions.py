"""Human decisions from the worker's side: the reference page's conflict example with values
on its buttons, input rules that send the person back to the form, a default on timeout,
and who answered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import Gateway, Server, new_owner, run

import taskcontrol


def test_the_pages_conflict_example_with_values_on_its_buttons(server: Server) -> None:
    """The page's "progress before and after confirmation" pattern, nearly word for word:
    the buttons carry values, so ``decision.get("replace_existing")`` works on a surface of
    Text and Buttons."""

    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as module_sdk, taskcontrol.connect(
            server.address
        ) as ui_client:

            def replace(_confirmation: Any) -> tuple[str, dict[str, Any]]:
                return "system.task.confirm_replace", {}

            async with Gateway(ui_client, owner, answer=replace) as gateway:
                task_id = await module_sdk.tasks.run_background(
                    owner=owner, label="Installing model"
                )

                builder = module_sdk.ui.Builder()
                builder.add(
                    module_sdk.ui.Text(
                        "confirm_text",
                        "A model with the same name already exists. Replace it?",
                    )
                )
                builder.add(
                    module_sdk.ui.Button(
                        "confirm_replace",
                        label="Replace",
                        action="system.task.confirm_replace",
                        value={"replace_existing": True},
                    )
                )
                builder.add(
                    module_sdk.ui.Button(
                        "confirm_cancel",
                        label="Cancel",
                        action="system.task.confirm_cancel",
                        value={"replace_existing": False},
                    )
                )

                await module_sdk.tasks.update_progress(
                    task_id,
                    0.55,
                    checkpoint={"phase": "conflict_detected"},
                    label="Conflict detected, waiting for confirmation",
                )
                decision = await module_sdk.tasks.request_confirmation(task_id, builder)
                if decision.get("replace_existing"):
                    await module_sdk.tasks.update_progress(
                        task_id,
                        0.65,
                        label="Replacing existing artifact",
                    )
                assert len(gateway.resolved) == 1
            task = await module_sdk.tasks.view(task_id)
        assert (task["progress"], task["label"]) == (0.65, "Replacing existing artifact")
        assert decision["replace_existing"] is True
        assert (decision.outcome, decision.answered_by, decision.defaulted) == (
            "answered",
            "anonymous",
            False,
        )
        assert decision["action"] == "system.task.confirm_replace"

    run(scenario())


def test_inputs_are_checked_by_the_server_and_the_merged_values_reach_the_worker(
    server: Server,
) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as worker, taskcontrol.connect(
            server.address
        ) as ui_client:
            ui = worker.ui
            builder = ui.Builder(title="Install")
            builder.add(
                ui.TextInput(
                    "new_name",
                    label="New name",
                    max_length=12,
                    pattern="[a-z0-9-]+",
                    pattern_description="lower-case letters, digits and -",
                ),
                ui.NumberInput("workers", label="Workers", min=1, max=8, step=1, required=True),
                ui.Select("targets", label="Targets", options=["cpu", "gpu"], multiple=True),
                ui.Button("go", label="Install", action="go", value={"confirmed": True}),
            )
            task_id = await worker.tasks.run_background(owner=owner, label="forms")
            async with Gateway(ui_client, owner) as gateway:
                pending = asyncio.create_task(
                    worker.tasks.request_confirmation(task_id, builder, answerers=["anonymous"])
                )
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "confirmation_requested")), "the request"
                )
                requested = gateway.of(task_id, "confirmation_requested")[0]
                confirmation = requested.confirmation_requested.confirmation
                assert list(confirmation.answerers) == ["anonymous"]
                with pytest.raises(taskcontrol.InvalidArgument) as caught:
                    await ui_client.resolve_confirmation(
                        confirmation.id,
                        action="go",
                        values={"new_name": "Not Valid", "workers": 9, "targets": "cpu"},
                    )
                described = {v.field: v.description for v in caught.value.field_violations}
                assert sorted(described) == ["values.new_name", "values.targets", "values.workers"]
                assert described["values.new_name"] == "lower-case letters, digits and -"
                assert not pending.done(), "a bad answer leaves the worker waiting"
                await ui_client.resolve_confirmation(
                    confirmation.id,
                    action="go",
                    values={"new_name": "llama-3", "workers": 4, "targets": ["gpu"]},
                )
                decision = await pending
        assert decision.inputs == {
            "new_name": "llama-3",
            "workers": 4,
            "targets": ["gpu"],
            "confirmed": True,
        }
        assert (decision["ok"], decision.answered_by) == (True, "anonymous")

    run(scenario())


def test_timeout_action_is_the_default_when_nobody_answers(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as worker:
            ui = worker.ui
            builder = ui.Builder()
            builder.add(
                ui.Text("confirm_text", "Replace it?"),
                ui.Button(
                    "replace", label="Replace", action="replace", value={"replace_existing": True}
                ),
                ui.Button("keep", label="Keep", action="keep", value={"replace_existing": False}),
            )
            task_id = await worker.tasks.run_background(owner=owner)
            decision = await worker.tasks.request_confirmation(
                task_id, builder, timeout=0.3, timeout_action="keep"
            )
            with pytest.raises(taskcontrol.InvalidArgument) as caught:
                await worker.tasks.request_confirmation(task_id, builder, timeout_action="keep")
        assert (decision.outcome, decision.defaulted, decision["ok"], decision["action"]) == (
            "expired",
            True,
            False,
            "keep",
        )
        assert decision.get("replace_existing") is False
        assert decision.answered_by == ""
        assert [v.field for v in caught.value.field_violations] == ["timeout_action"]

    run(scenario())
