"""Leases, stalls, attempts, claims, safe retries and the cancel push (issue 13), against the
real server, with a real worker process killed by SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import Gateway, Server, new_owner, run, wait_status

import taskcontrol
from taskcontrol.v1 import task_pb2

SDK_ROOT = Path(__file__).resolve().parents[1]

# A worker process: runs a job under a lease that never ends by itself; prints the task id.
WORKER = """
import asyncio, sys
import taskcontrol

async def job(handle):
    await handle.update_progress(0.6, label="working", checkpoint={"step": 3})
    await asyncio.Event().wait()

async def main():
    async with taskcontrol.connect(sys.argv[1]) as client:
        job_id = await client.tasks.run_background(job, owner=sys.argv[2], label="doomed", lease=float(sys.argv[3]))
        print(job_id, flush=True)
        await job_id.result()

asyncio.run(main())
"""


def _statuses(gateway: Gateway, task_id: str) -> list[int]:
    return [e.status_changed.task.status for e in gateway.of(task_id, "status_changed")]


def test_kill_9_of_a_worker_stalls_its_task_within_the_lease(server: Server) -> None:
    lease = 2.0

    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as ui_client:
            async with Gateway(ui_client, owner) as gateway:
                worker = subprocess.Popen(
                    [sys.executable, "-c", WORKER, server.address, owner, str(lease)],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(SDK_ROOT)},
                )
                try:
                    assert worker.stdout is not None
                    task_id = (await asyncio.to_thread(worker.stdout.readline)).strip()
                    assert task_id.startswith("t-"), task_id
                    await wait_status(ui_client, task_id, "running")
                    # Heartbeats (every lease / 3) keep it RUNNING well past the lease.
                    await asyncio.sleep(lease * 2.5)
                    assert (await ui_client.tasks.view(task_id))["status"] == "running"
                    assert task_pb2.TASK_STATUS_STALLED not in _statuses(gateway, task_id)
                    worker.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    worker.wait()
                    await gateway.wait_for(
                        lambda _: task_pb2.TASK_STATUS_STALLED in _statuses(gateway, task_id),
                        what="STALLED",
                        timeout=lease + 5,
                    )
                    # The last heartbeat was before the kill: the lapse follows within lease + 1 s.
                    assert time.monotonic() - killed <= lease + 1.0
                    stalled = await ui_client.tasks.view(task_id)
                    assert stalled["status"] == "stalled"
                    assert stalled["attempt"] == 1
                    assert stalled["progress"] == pytest.approx(0.6)

                    # A supervisor resumes it from the checkpoint as attempt 2.
                    seen: dict[str, Any] = {}

                    async def resumed(handle: taskcontrol.JobHandle) -> dict[str, Any]:
                        seen.update(attempt=handle.attempt, checkpoint=handle.checkpoint)
                        return {"resumed_from": handle.checkpoint}

                    job = await ui_client.tasks.run_background(resumed, resume=task_id, lease=lease)
                    assert await job.result() == {"resumed_from": {"step": 3}}
                    assert seen == {"attempt": 2, "checkpoint": {"step": 3}}
                    done = await ui_client.tasks.view(task_id)
                    assert (done["status"], done["attempt"]) == ("succeeded", 2)
                finally:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait()

    run(scenario(), timeout=60)


def test_a_job_completes_with_its_value_and_fails_with_its_exception(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:

            async def works(handle: taskcontrol.JobHandle) -> int:
                await handle.update_progress(0.5, label="half")
                await asyncio.sleep(1.5)  # past the 1 s lease: heartbeats keep it running
                return 42

            job = await client.tasks.run_background(works, owner=owner, label="answer", lease=1)
            assert isinstance(job, str)
            assert await job.result() == 42
            task = await client.tasks.view(job)
            assert (task["status"], task["result"]) == ("succeeded", {"value": 42})

            async def breaks(handle: taskcontrol.JobHandle) -> None:
                raise ValueError("the disk is full")

            broken = await client.tasks.run_background(breaks, owner=owner, lease=5)
            with pytest.raises(ValueError):
                await broken.result()
            failed = await client.tasks.view(broken)
            assert failed["status"] == "failed"
            assert failed["error_message"] == "the disk is full"
            assert failed["error_details"]["type"] == "ValueError"
            assert "ValueError: the disk is full" in failed["error_details"]["traceback"]

    run(scenario())


def test_a_cancel_reaches_the_job_between_heartbeats_with_its_reason(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            started = asyncio.Event()
            caught: list[str] = []

            async def waits(handle: taskcontrol.JobHandle) -> None:
                started.set()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError as cancel:
                    caught.append(str(cancel.args[0]) if cancel.args else "")
                    raise

            # A 60 s lease heartbeats every 20 s: only the watch can bring the cancel in time.
            job = await client.tasks.run_background(waits, owner=owner, lease=60)
            await started.wait()
            await asyncio.sleep(0.3)  # the job's watch is attached
            await client.cancel(job, reason="not needed any more")
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(job.result(), 5)
            assert caught == ["not needed any more"]
            assert job.handle.cancel_reason == "not needed any more"
            assert (await client.tasks.view(job))["status"] == "cancelled"

    run(scenario())


def test_after_a_claim_the_old_attempt_is_superseded_and_changes_nothing(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=owner, label="first")
            await client.tasks.update_progress(task_id, 0.3, attempt=1)
            claimed = await client.tasks.claim(task_id, lease=30, request_id="supervisor-1")
            assert claimed["attempt"] == 2
            again = await client.tasks.claim(task_id, request_id="supervisor-1")
            assert again["attempt"] == 2, "the same request_id is the same claim"
            before = await client.tasks.view(task_id)
            for call in (
                client.tasks.update_progress(task_id, 0.9, attempt=1),
                client.tasks.emit_progress(task_id, 0.9, attempt=1),
                client.tasks.heartbeat(task_id, attempt=1),
                client.tasks.complete(task_id, attempt=1),
                client.tasks.fail(task_id, "old", attempt=1),
            ):
                with pytest.raises(taskcontrol.AttemptSuperseded) as raised:
                    await call
                assert raised.value.current_attempt == 2
                assert isinstance(raised.value, taskcontrol.FailedPrecondition)
            after = await client.tasks.view(task_id)
            assert (after["revision"], after["progress"]) == (before["revision"], before["progress"])
            await client.tasks.complete(task_id, attempt=2)

    run(scenario())


def test_every_terminal_call_retried_is_ok(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            done = await client.tasks.run_background(owner=owner)
            first = await client.tasks.complete(done, {"n": 1})
            assert (await client.tasks.complete(done, {"n": 1}))["revision"] == first["revision"]
            assert (await client.tasks.complete(done))["revision"] == first["revision"]
            with pytest.raises(taskcontrol.FailedPrecondition):
                await client.tasks.complete(done, {"n": 2})

            failed = await client.tasks.run_background(owner=owner)
            first = await client.tasks.fail(failed, "boom")
            assert (await client.tasks.fail(failed, "boom"))["revision"] == first["revision"]

            cancelled = await client.tasks.run_background(owner=owner)
            first = await client.cancel(cancelled, reason="stop")
            assert (await client.cancel(cancelled))["revision"] == first["revision"]

    run(scenario())


class _LoseFirstAnswer:
    """A stub whose CompleteTask commits, then answers UNAVAILABLE once (a lost answer)."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    @property
    def CompleteTask(self) -> Any:  # noqa: N802 (the generated stub's name)
        real = self._stub.CompleteTask

        async def call(request: Any, **kwargs: Any) -> Any:
            response = await real(request, **kwargs)
            if self.lost == 0:
                self.lost += 1
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.aio.Metadata(),
                    grpc.aio.Metadata(),
                    details="connection reset after the commit",
                )
            return response

        return call


def test_an_unavailable_after_the_commit_is_not_an_error(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        policy = taskcontrol.RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
        async with taskcontrol.connect(server.address, retry=policy) as client:
            task_id = await client.tasks.run_background(owner=owner)
            lossy = _LoseFirstAnswer(client.tasks._stub)
            client.tasks._stub = lossy
            task = await client.tasks.complete(task_id, {"ok": True})
            assert lossy.lost == 1, "the first answer was lost after its commit"
            assert (task["status"], task["result"]) == ("succeeded", {"ok": True})

    run(scenario())
