"""Testing the worker against the real server: the test answers its confirmation."""

from __future__ import annotations

import asyncio

from replace_worker import install_model

from taskcontrol.testing import Harness


def test_replaces_when_the_user_says_so(taskcontrol_env: Harness) -> None:
    async def scenario() -> None:
        client = taskcontrol_env.client
        owner = taskcontrol_env.new_owner()
        worker = asyncio.ensure_future(install_model(client, owner, "llama-3-8b"))

        asked = await taskcontrol_env.next_confirmation(owner=owner)
        assert asked["title"] == "Model already installed"
        task = await client.tasks.view(asked["task_id"])
        assert task["status"] == "waiting_confirmation"
        await client.resolve_confirmation(asked["id"], action="replace")

        assert await worker == "replaced"
        task = await client.tasks.view(asked["task_id"])
        assert (task["status"], task["label"]) == ("succeeded", "Replacing existing artifact")
        assert task["result"] == {"replaced": True}

    taskcontrol_env.run(scenario())


def test_keeps_the_model_when_the_user_cancels(taskcontrol_env: Harness) -> None:
    async def scenario() -> None:
        owner = taskcontrol_env.new_owner()
        worker = asyncio.ensure_future(install_model(taskcontrol_env.client, owner, "llama-3-8b"))
        asked = await taskcontrol_env.next_confirmation(owner=owner)
        await taskcontrol_env.client.resolve_confirmation(asked["id"], action="cancel")
        assert await worker == "kept"

    taskcontrol_env.run(scenario())
