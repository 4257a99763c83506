"""The page's stepwise demo task: ten persisted steps labelled "Processing step i/10...".

Run: python3 clients/python/examples/stepwise_demo.py [HOST:PORT]
"""

from __future__ import annotations

import asyncio
import sys
from typing import Optional

import _example

import taskcontrol


async def _run_demo_task(
    module_sdk: taskcontrol.Client, task_ref: dict[str, Optional[str]], pause: float
) -> None:
    steps = 10
    for i in range(1, steps + 1):
        await asyncio.sleep(pause)
        task_id = task_ref["task_id"]
        if task_id:
            await module_sdk.tasks.update_progress(
                task_id,
                i / steps,
                label=f"Processing step {i}/{steps}...",
            )
            if module_sdk.tasks.cancel_requested(task_id):
                return


async def main(address: str) -> None:
    """Creates the demo task, runs its ten steps and completes it."""
    async with taskcontrol.connect(address, token=_example.TOKEN) as module_sdk:
        task_id = await module_sdk.tasks.run_background(
            owner=_example.OWNER, label="Demo background task", kind="demo.stepwise"
        )
        print(f"task {task_id} started", flush=True)
        await _run_demo_task(module_sdk, {"task_id": task_id}, _example.delay(1.5))
        if module_sdk.tasks.cancel_requested(task_id):
            print(f"task {task_id} cancelled by its user", flush=True)
            return
        await module_sdk.tasks.complete(task_id, result={"steps": 10})
        print(f"task {task_id} succeeded", flush=True)


if __name__ == "__main__":
    asyncio.run(main(_example.address(sys.argv)))
