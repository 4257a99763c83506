"""The page's installer: persisted milestones with update_progress, and the installer's
console lines pushed live with emit_progress (never stored).

Run: python3 clients/python/examples/installer.py [HOST:PORT]
"""

from __future__ import annotations

import asyncio
import sys

import _example

import taskcontrol

MODEL_ID = "whisper-small"
INSTALL_LINES = [
    "install: Collecting torch",
    "install: Downloading torch-2.3.0-cp311-manylinux.whl (779 MB)",
    "install: Collecting numpy",
    "install: Installing collected packages: numpy, torch",
    "install: Successfully installed numpy torch",
]


async def main(address: str) -> None:
    """Installs a (pretend) engine, reporting milestones and live lines, then completes."""
    pause = _example.delay(0.3)
    async with taskcontrol.connect(address, token=_example.TOKEN) as module_sdk:
        task_id = await module_sdk.tasks.run_background(
            owner=_example.OWNER, label=MODEL_ID, kind="engine.install"
        )
        print(f"task {task_id} started", flush=True)
        await module_sdk.tasks.update_progress(task_id, 0.05, label=MODEL_ID)

        total = 4_000_000
        for downloaded in (1_000_000, 2_000_000, 4_000_000):
            await asyncio.sleep(pause)
            await module_sdk.tasks.update_progress(
                task_id,
                0.05 + 0.35 * downloaded / total,
                checkpoint={
                    "phase": "download",
                    "downloaded_bytes": downloaded,
                    "total_bytes": total,
                },
                label="Downloading source archive",
            )

        await module_sdk.tasks.update_progress(
            task_id,
            0.60,
            label="Installing engine dependencies",
        )
        for line in INSTALL_LINES:
            await asyncio.sleep(pause / 3)
            await module_sdk.tasks.emit_progress(
                task_id,
                0.60,
                label=line,
            )
            if module_sdk.tasks.cancel_requested(task_id):
                print(f"task {task_id} cancelled by its user", flush=True)
                return

        await module_sdk.tasks.update_progress(
            task_id,
            0.85,
            label="Writing registry metadata",
        )
        await asyncio.sleep(pause)
        await module_sdk.tasks.update_progress(task_id, 1.0, label=MODEL_ID)
        await module_sdk.tasks.complete(task_id, result={"model_id": MODEL_ID})
        print(f"task {task_id} succeeded", flush=True)


if __name__ == "__main__":
    asyncio.run(main(_example.address(sys.argv)))
