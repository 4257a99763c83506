"""The page's confirmation pattern: progress before the risky phase, ask the user through a
Builder surface, then resume and report progress again.

The task waits until a UI gateway (the web monitor, the CLI, or client.resolve_confirmation)
answers. Run: python3 clients/python/examples/conflict_confirmation.py [HOST:PORT]
"""

from __future__ import annotations

import asyncio
import sys

import _example

import taskcontrol


async def main(address: str) -> None:
    """Detects a (pretend) conflict, asks whether to replace, and acts on the answer."""
    pause = _example.delay(0.5)
    async with taskcontrol.connect(address, token=_example.TOKEN) as module_sdk:
        task_id = await module_sdk.tasks.run_background(
            owner=_example.OWNER, label="Installing model", kind="model.install"
        )
        print(f"task {task_id} started", flush=True)
        await module_sdk.tasks.update_progress(task_id, 0.30, label="Checking the registry")
        await asyncio.sleep(pause)

        await module_sdk.tasks.update_progress(
            task_id,
            0.55,
            checkpoint={"phase": "conflict_detected"},
            label="Conflict detected, waiting for confirmation",
        )
        builder = module_sdk.ui.Builder(title="Model already installed")
        builder.add(
            module_sdk.ui.Text(
                "confirm_text",
                "A model with the same name already exists. Replace it?",
            )
        )
        builder.add(
            module_sdk.ui.Checkbox(
                "keep_backup", label="Keep a backup of the existing model", default_value=True
            )
        )
        builder.add(
            module_sdk.ui.Button(
                "confirm_replace",
                label="Replace",
                action="system.task.confirm_replace",
                style="danger",
            )
        )
        builder.add(
            module_sdk.ui.Button(
                "confirm_cancel",
                label="Cancel",
                action="system.task.confirm_cancel",
            )
        )
        print(
            f"task {task_id} waiting for confirmation"
            f" (answer it in the web monitor or: npx taskctl watch --owner {_example.OWNER})",
            flush=True,
        )
        decision = await module_sdk.tasks.request_confirmation(task_id, builder)
        print(f"task {task_id} decision {dict(decision)}", flush=True)

        if decision.outcome == "cancelled" or module_sdk.tasks.cancel_requested(task_id):
            print(f"task {task_id} cancelled by its user", flush=True)
            return
        if decision.get("action") == "system.task.confirm_replace":
            await module_sdk.tasks.update_progress(
                task_id,
                0.65,
                label="Replacing existing artifact",
            )
            await asyncio.sleep(pause)
            await module_sdk.tasks.complete(
                task_id,
                result={"replaced": True, "backup": bool(decision.get("keep_backup"))},
            )
        else:
            await module_sdk.tasks.complete(task_id, result={"replaced": False})
        print(f"task {task_id} succeeded", flush=True)


if __name__ == "__main__":
    asyncio.run(main(_example.address(sys.argv)))
