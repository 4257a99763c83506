"""The page's three examples, run as scripts against the real server, with a Python
gateway watching them and answering the confirmation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from conftest import Gateway, Server, new_owner, run

import taskcontrol

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import installer  # noqa: E402  (the example itself, for its model id and lines)


async def _run_example(
    name: str, owner: str, address: str, via_env: bool = False, delay: float = 0.01
) -> list[str]:
    """Runs an example script to its end and returns its output lines."""
    env = {**os.environ, "TASKCONTROL_OWNER": owner, "TASKCONTROL_EXAMPLE_DELAY": str(delay)}
    args = [sys.executable, str(EXAMPLES / name)]
    if via_env:
        env["TASKCONTROL_ADDRESS"] = address
    else:
        env.pop("TASKCONTROL_ADDRESS", None)
        args.append(address)
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("task ") and lines[0].endswith(" started"), lines
    return lines


def _task_id(lines: list[str]) -> str:
    return lines[0].split()[1]


def test_stepwise_demo(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            async with Gateway(client, owner) as gateway:
                lines = await _run_example("stepwise_demo.py", owner, server.address)
                task_id = _task_id(lines)
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "status_changed")), "the end"
                )
            task = await client.tasks.view(task_id)
        assert lines[-1] == f"task {task_id} succeeded"
        assert gateway.kinds(task_id) == ["task_created"] + ["progress"] * 10 + ["status_changed"]
        progress = [e.progress for e in gateway.of(task_id, "progress")]
        assert [p.label for p in progress] == [f"Processing step {i}/10..." for i in range(1, 11)]
        assert [p.progress for p in progress] == [i / 10 for i in range(1, 11)]
        assert all(p.persisted for p in progress)
        assert (task["status"], task["progress"], task["label"]) == (
            "succeeded",
            1.0,
            "Processing step 10/10...",
        )
        assert task["result"] == {"steps": 10}

    run(scenario())


def test_installer_with_live_lines(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            async with Gateway(client, owner) as gateway:
                lines = await _run_example(
                    "installer.py", owner, server.address, via_env=True, delay=0.05
                )
                task_id = _task_id(lines)
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "status_changed")), "the end"
                )
            task = await client.tasks.view(task_id)
        assert lines[-1] == f"task {task_id} succeeded"
        progress = [e.progress for e in gateway.of(task_id, "progress")]
        persisted = [(p.progress, p.label) for p in progress if p.persisted]
        live = [(p.progress, p.label) for p in progress if not p.persisted]
        assert [label for _, label in persisted] == [
            installer.MODEL_ID,
            "Downloading source archive",
            "Downloading source archive",
            "Downloading source archive",
            "Installing engine dependencies",
            "Writing registry metadata",
            installer.MODEL_ID,
        ]
        assert [round(value, 4) for value, _ in persisted] == [
            0.05,
            0.1375,
            0.225,
            0.4,
            0.6,
            0.85,
            1.0,
        ]
        assert live == [(0.60, line) for line in installer.INSTALL_LINES]
        # Live lines are never stored: the task keeps its last milestone's checkpoint.
        assert task["checkpoint"] == {
            "phase": "download",
            "downloaded_bytes": 4_000_000,
            "total_bytes": 4_000_000,
        }
        assert (task["status"], task["label"], task["result"]) == (
            "succeeded",
            installer.MODEL_ID,
            {"model_id": installer.MODEL_ID},
        )

    run(scenario())


def _conflict(
    server_address: str, action: str, values: dict[str, Any]
) -> tuple[Gateway, list[str], dict[str, Any]]:
    """Runs the conflict example with a gateway answering ``action`` and ``values``."""

    async def scenario() -> tuple[Gateway, list[str], dict[str, Any]]:
        owner = new_owner()
        async with taskcontrol.connect(server_address) as client:
            gateway = Gateway(client, owner, answer=lambda _: (action, values))
            async with gateway:
                lines = await _run_example("conflict_confirmation.py", owner, server_address)
                task_id = _task_id(lines)
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "status_changed")), "the end"
                )
            return gateway, lines, await client.tasks.view(task_id)

    return run(scenario())


def test_conflict_confirmation_replace(server: Server) -> None:
    gateway, lines, task = _conflict(
        server.address, "system.task.confirm_replace", {"keep_backup": False}
    )
    task_id = task["id"]
    assert lines[1:] == [
        f"task {task_id} waiting for confirmation"
        f" (answer it in the web monitor or: npx taskctl watch --owner {task['owner']})",
        f"task {task_id} decision {{'keep_backup': False, 'ok': True, "
        "'action': 'system.task.confirm_replace'}",
        f"task {task_id} succeeded",
    ]
    assert gateway.kinds(task_id) == [
        "task_created",
        "progress",
        "progress",
        "confirmation_requested",
        "status_changed",
        "confirmation_resolved",
        "status_changed",
        "progress",
        "status_changed",
    ]
    assert [
        taskcontrol.to_dict(e.status_changed.task)["status"]
        for e in gateway.of(task_id, "status_changed")
    ] == ["waiting_confirmation", "running", "succeeded"]
    progress = [e.progress for e in gateway.of(task_id, "progress")]
    assert [(p.progress, p.label) for p in progress] == [
        (0.30, "Checking the registry"),
        (0.55, "Conflict detected, waiting for confirmation"),
        (0.65, "Replacing existing artifact"),
    ]
    assert dict(progress[1].checkpoint) == {"phase": "conflict_detected"}
    asked = gateway.of(task_id, "confirmation_requested")[0].confirmation_requested.confirmation
    assert asked.title == "Model already installed"
    assert [c.id for c in asked.components] == [
        "confirm_text",
        "keep_backup",
        "confirm_replace",
        "confirm_cancel",
    ]
    assert asked.components[2].button.action == "system.task.confirm_replace"
    assert gateway.resolved[0]["state"] == "answered"
    assert (task["status"], task["result"]) == ("succeeded", {"replaced": True, "backup": False})
    assert task["checkpoint"] == {"phase": "conflict_detected"}


def test_conflict_confirmation_keep(server: Server) -> None:
    _, lines, task = _conflict(server.address, "system.task.confirm_cancel", {})
    assert lines[-1] == f"task {task['id']} succeeded"
    assert task["result"] == {"replaced": False}
    assert task["progress"] == 1.0
