"""Durability across a server restart (SIGTERM, then a new process on the same port and
database): a held confirmation re-attaches, a watch resumes without gaps or repeats."""

from __future__ import annotations

import asyncio

from conftest import Gateway, Server, new_owner, run, wait_status

import taskcontrol


async def _restart(server: Server) -> None:
    address = server.address
    assert await asyncio.to_thread(server.stop) == 0, "".join(server.output[-30:])
    await asyncio.to_thread(server.start)
    assert server.address == address


def _surface(client: taskcontrol.Client) -> taskcontrol.ui.Builder:
    ui = client.ui
    return ui.Builder().add(
        ui.Text("confirm_text", "A model with the same name already exists. Replace it?"),
        ui.Button("confirm_replace", label="Replace", action="system.task.confirm_replace"),
        ui.Button("confirm_cancel", label="Cancel", action="system.task.confirm_cancel"),
    )


def test_confirmation_reattaches_after_restart(restartable: Server) -> None:
    restartable.start()
    policy = taskcontrol.RetryPolicy(initial_backoff=0.05, max_backoff=0.5, max_elapsed=60)

    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(restartable.address, retry=policy) as worker:
            task_id = await worker.tasks.run_background(owner=owner, label="Install", kind="k")
            await worker.tasks.update_progress(
                task_id,
                0.55,
                checkpoint={"phase": "conflict_detected"},
                label="Conflict detected, waiting for confirmation",
            )
            asking = asyncio.create_task(
                worker.tasks.request_confirmation(task_id, _surface(worker))
            )
            before = (await wait_status(worker, task_id, "waiting_confirmation"))[
                "pending_confirmation"
            ]
            await _restart(restartable)
            assert not asking.done()
            async with taskcontrol.connect(restartable.address) as ui_client:
                after = (await ui_client.tasks.view(task_id))["pending_confirmation"]
                assert after is not None
                assert (after["id"], after["request_id"], after["state"]) == (
                    before["id"],
                    before["request_id"],
                    "pending",
                )
                await ui_client.resolve_confirmation(
                    before["id"], action="system.task.confirm_replace"
                )
            decision = await asking
            assert decision == {"ok": True, "action": "system.task.confirm_replace"}
            await worker.tasks.update_progress(task_id, 0.65, label="Replacing existing artifact")
            task = await worker.tasks.complete(task_id)
            assert task["status"] == "succeeded"

    run(scenario(), timeout=120)
    assert restartable.stop() == 0


def test_answer_given_while_the_worker_was_away(restartable: Server) -> None:
    restartable.start()
    # The worker comes back only seconds after the restart: the answer is waiting for it.
    slow = taskcontrol.RetryPolicy(initial_backoff=4.0, max_backoff=4.0, max_elapsed=60)

    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(restartable.address, retry=slow) as worker:
            task_id = await worker.tasks.run_background(owner=owner, label="Install", kind="k")
            asking = asyncio.create_task(
                worker.tasks.request_confirmation(
                    task_id, _surface(worker), request_id=f"ask-{task_id}"
                )
            )
            pending = (await wait_status(worker, task_id, "waiting_confirmation"))[
                "pending_confirmation"
            ]
            assert pending["request_id"] == f"ask-{task_id}"
            await _restart(restartable)
            async with taskcontrol.connect(restartable.address) as ui_client:
                await ui_client.resolve_confirmation(
                    pending["id"], action="system.task.confirm_cancel"
                )
                assert (await ui_client.tasks.view(task_id))["status"] == "running"
            assert not asking.done()
            decision = await asking
            assert decision == {"ok": True, "action": "system.task.confirm_cancel"}

    run(scenario(), timeout=120)
    assert restartable.stop() == 0


def test_watch_resumes_after_restart(restartable: Server) -> None:
    restartable.start()
    # The gateway reconnects only after the worker's post-restart changes: they come by replay.
    slow = taskcontrol.RetryPolicy(initial_backoff=3.0, max_backoff=3.0, max_elapsed=60)

    async def scenario() -> tuple[Gateway, str]:
        owner = new_owner()
        async with taskcontrol.connect(restartable.address, retry=slow) as ui_client:
            async with Gateway(ui_client, owner) as gateway:
                async with taskcontrol.connect(restartable.address) as worker:
                    task_id = await worker.tasks.run_background(
                        owner=owner, label="Before", kind="k"
                    )
                    await worker.tasks.update_progress(task_id, 0.25, label="before restart")
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "progress")), "the first progress"
                )
                await _restart(restartable)
                async with taskcontrol.connect(restartable.address) as worker:
                    await worker.tasks.update_progress(task_id, 0.75, label="after restart")
                    await worker.tasks.emit_progress(task_id, label="a live line nobody keeps")
                    await worker.tasks.complete(task_id)
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "status_changed")), "the end", timeout=30
                )
            return gateway, task_id

    gateway, task_id = run(scenario(), timeout=120)
    assert restartable.stop() == 0
    # Live lines during the gap may be lost; persisted events never are.
    kinds = [
        kind
        for kind, event in zip(gateway.kinds(task_id), gateway.of(task_id))
        if not (kind == "progress" and not event.progress.persisted)
    ]
    assert kinds == ["task_created", "progress", "progress", "status_changed"]
    labels = [e.progress.label for e in gateway.of(task_id, "progress") if e.progress.persisted]
    assert labels == ["before restart", "after restart"]
    persisted = [
        e
        for e in gateway.events
        if e.WhichOneof("event") in ("task_created", "status_changed")
        or (e.WhichOneof("event") == "progress" and e.progress.persisted)
    ]
    sequences = [e.sequence for e in persisted]
    assert sequences == sorted(set(sequences)), sequences
