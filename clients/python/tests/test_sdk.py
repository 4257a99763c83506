"""Every SDK call against the real server (one server for the module's tests)."""

from __future__ import annotations

import asyncio
import datetime
import math
from typing import Any

import pytest
from conftest import Gateway, Server, new_owner, run, wait_status

import taskcontrol
from taskcontrol.v1 import task_control_service_pb2 as pb
from taskcontrol.v1 import task_pb2


def _surface(client: taskcontrol.Client) -> taskcontrol.ui.Builder:
    ui = client.ui
    return ui.Builder(title="Replace the model?").add(
        ui.Text("confirm_text", "A model with the same name already exists. Replace it?"),
        ui.TextInput("new_name", label="New name", placeholder="name"),
        ui.Select("mode", label="Mode", options=["merge", ui.Option("replace", "Replace")]),
        ui.Checkbox("replace_existing", label="Replace existing"),
        ui.Button("confirm_replace", label="Replace", action="system.task.confirm_replace"),
        ui.Button("confirm_cancel", label="Cancel", action="system.task.confirm_cancel"),
    )


def test_run_background_and_view(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(
                owner=owner, label="Install", kind="model.install", checkpoint={"phase": "start"}
            )
            again = await client.tasks.run_background(
                owner=owner, label="Install", kind="model.install", request_id="same-request"
            )
            assert again != task_id
            assert (
                await client.tasks.run_background(
                    owner=owner, label="Other", kind="x", request_id="same-request"
                )
                == again
            )
            task = await client.tasks.view(task_id)
        assert task["id"] == task_id
        assert (task["owner"], task["label"], task["kind"]) == (owner, "Install", "model.install")
        assert task["status"] == "running"
        assert task["progress"] == 0
        assert task["checkpoint"] == {"phase": "start"}
        assert task["cancel_requested"] is False
        assert task["pending_confirmation"] is None
        assert task["end_time"] is None
        assert isinstance(task["create_time"], datetime.datetime)
        assert task["revision"] == 1

    run(scenario())


def test_update_progress_persists_clamps_and_keeps(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=owner, label="Download", kind="k")
            async with Gateway(client, owner) as gateway:
                await client.tasks.update_progress(
                    task_id,
                    0.40,
                    checkpoint={"phase": "download", "downloaded_bytes": 10, "total_bytes": 40},
                    label="Downloading source archive",
                )
                task = await client.tasks.view(task_id)
                assert task["progress"] == 0.40
                assert task["label"] == "Downloading source archive"
                assert task["checkpoint"] == {
                    "phase": "download",
                    "downloaded_bytes": 10,
                    "total_bytes": 40,
                }
                assert task["revision"] == 2
                # Absent label and checkpoint are kept; progress is clamped.
                await client.tasks.update_progress(task_id, 1.7)
                task = await client.tasks.view(task_id)
                assert task["progress"] == 1.0
                assert task["label"] == "Downloading source archive"
                assert task["checkpoint"]["phase"] == "download"
                await client.tasks.update_progress(task_id, -3, label="Back")
                await client.tasks.update_progress(task_id, math.inf, checkpoint={"phase": "x"})
                task = await client.tasks.view(task_id)
                assert (task["progress"], task["label"], task["checkpoint"]) == (
                    1.0,
                    "Back",
                    {"phase": "x"},
                )
                assert task["update_time"] >= task["create_time"]
                with pytest.raises(taskcontrol.InvalidArgument):
                    await client.tasks.update_progress(task_id, math.nan)
                await gateway.wait_for(
                    lambda _: len(gateway.of(task_id, "progress")) == 4, "4 progress events"
                )
            events = gateway.of(task_id, "progress")
            assert [e.progress.persisted for e in events] == [True] * 4
            assert [e.progress.progress for e in events] == [0.40, 1.0, 0.0, 1.0]
            assert [e.progress.label for e in events] == [
                "Downloading source archive",
                "Downloading source archive",
                "Back",
                "Back",
            ]
            assert events[0].progress.owner == owner
            assert dict(events[0].progress.checkpoint)["phase"] == "download"
            sequences = [e.sequence for e in events]
            assert sequences == sorted(set(sequences))

    run(scenario())


def test_emit_progress_is_live_only(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=owner, label="Engine", kind="k")
            await client.tasks.update_progress(
                task_id, 0.60, label="Installing engine dependencies"
            )
            before = await client.tasks.view(task_id)
            async with Gateway(client, owner) as gateway:
                await client.tasks.emit_progress(task_id, 0.60, label="install: Collecting torch")
                await client.tasks.emit_progress(task_id, label="install: Collecting numpy")
                await client.tasks.emit_progress(task_id, 5, checkpoint={"line": 3})
                await client.tasks.emit_progress(task_id)
                await gateway.wait_for(
                    lambda _: len(gateway.of(task_id, "progress")) == 4, "4 live lines"
                )
            after = await client.tasks.view(task_id)
        assert after == before
        events = [e.progress for e in gateway.of(task_id, "progress")]
        assert [e.persisted for e in events] == [False] * 4
        assert [e.progress for e in events] == [0.60, 0.60, 1.0, 0.60]
        assert [e.label for e in events] == [
            "install: Collecting torch",
            "install: Collecting numpy",
            "Installing engine dependencies",
            "Installing engine dependencies",
        ]
        assert dict(events[2].checkpoint) == {"line": 3}

    run(scenario())


def test_unknown_task_ids(server: Server) -> None:
    async def scenario() -> None:
        async with taskcontrol.connect(server.address) as client:
            # The page: update/emit on an unknown task return without raising.
            await client.tasks.update_progress("no-such-task", 0.5, label="x")
            await client.tasks.emit_progress("no-such-task", 0.5, label="x")
            assert client.tasks.cancel_requested("no-such-task") is False
            # A confirmation without a real task is a contract bug: it raises.
            with pytest.raises(taskcontrol.TaskNotFound) as caught:
                await client.tasks.request_confirmation("no-such-task", _surface(client))
            assert isinstance(caught.value, taskcontrol.TaskControlError)
            with pytest.raises(taskcontrol.TaskNotFound):
                await client.tasks.view("no-such-task")
            with pytest.raises(taskcontrol.TaskNotFound):
                await client.tasks.complete("no-such-task")
            with pytest.raises(taskcontrol.TaskNotFound):
                await client.tasks.fail("no-such-task", "boom")
            with pytest.raises(taskcontrol.TaskNotFound):
                await client.cancel("no-such-task")
            with pytest.raises(taskcontrol.ConfirmationNotFound):
                await client.resolve_confirmation("no-such-confirmation", action="x")

    run(scenario())


def test_complete_and_fail(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            done = await client.tasks.run_background(owner=owner, label="A", kind="k")
            await client.tasks.update_progress(done, 0.3)
            task = await client.tasks.complete(done, result={"model_id": "m1"})
            assert (task["status"], task["progress"], task["result"]) == (
                "succeeded",
                1.0,
                {"model_id": "m1"},
            )
            assert task["end_time"] is not None
            # Updates after the end are ignored, not errors.
            await client.tasks.update_progress(done, 0.1, label="late")
            assert await client.tasks.view(done) == task
            # Completing again with no (or the same) result is a safe retry; another result is not.
            assert await client.tasks.complete(done) == task
            with pytest.raises(taskcontrol.FailedPrecondition):
                await client.tasks.complete(done, result={"model_id": "m2"})
            with pytest.raises(taskcontrol.FailedPrecondition):
                await client.tasks.request_confirmation(done, _surface(client))

            failed = await client.tasks.run_background(owner=owner, label="B", kind="k")
            task = await client.tasks.fail(failed, "disk full", details={"free_bytes": 0})
            assert (task["status"], task["error_message"], task["error_details"]) == (
                "failed",
                "disk full",
                {"free_bytes": 0},
            )
            assert (await client.tasks.complete(await client.tasks.run_background(owner=owner)))[
                "result"
            ] is None

    run(scenario())


def test_list(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            ids = [
                await client.tasks.run_background(owner=owner, label=f"t{i}", kind="k")
                for i in range(3)
            ]
            await client.tasks.complete(ids[0])
            listed = await client.tasks.list(owner=owner)
            running = await client.tasks.list(owner=owner, statuses=["running"])
            finished = await client.tasks.list(owner=owner, statuses=["succeeded", "failed"])
        assert [t["id"] for t in listed] == ids[::-1]
        assert [t["id"] for t in running] == ids[:0:-1]
        assert [t["id"] for t in finished] == ids[:1]

    run(scenario())


def test_request_confirmation_answered_by_a_gateway(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as worker, taskcontrol.connect(
            server.address
        ) as ui_client:
            task_id = await worker.tasks.run_background(owner=owner, label="Install", kind="k")
            async with Gateway(ui_client, owner) as gateway:
                asking = asyncio.create_task(
                    worker.tasks.request_confirmation(task_id, _surface(worker), timeout=60)
                )
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "confirmation_requested")),
                    "confirmation_requested",
                )
                confirmation = gateway.of(task_id, "confirmation_requested")[
                    0
                ].confirmation_requested.confirmation
                waiting = await worker.tasks.view(task_id)
                assert waiting["status"] == "waiting_confirmation"
                pending = waiting["pending_confirmation"]
                assert pending["id"] == confirmation.id
                assert pending["state"] == "pending"
                assert pending["title"] == "Replace the model?"
                assert pending["surface_id"]
                assert pending["expire_time"] is not None
                assert pending["request_id"].startswith("py-")
                assert [c["id"] for c in pending["components"]] == [
                    "confirm_text",
                    "new_name",
                    "mode",
                    "replace_existing",
                    "confirm_replace",
                    "confirm_cancel",
                ]
                with pytest.raises(taskcontrol.InvalidArgument):
                    await ui_client.resolve_confirmation(confirmation.id, action="not.a.button")
                with pytest.raises(taskcontrol.InvalidArgument):
                    await ui_client.resolve_confirmation(
                        confirmation.id,
                        action="system.task.confirm_replace",
                        values={"confirm_text": "x"},
                    )
                answered = await ui_client.resolve_confirmation(
                    confirmation.id,
                    action="system.task.confirm_replace",
                    values={"new_name": "m2", "mode": "replace", "replace_existing": True},
                )
                assert answered["state"] == "answered"
                assert answered["action"] == "system.task.confirm_replace"
                with pytest.raises(taskcontrol.FailedPrecondition):
                    await ui_client.resolve_confirmation(
                        confirmation.id, action="system.task.confirm_cancel"
                    )
                decision = await asking
                await gateway.wait_for(
                    lambda _: bool(gateway.of(task_id, "confirmation_resolved")),
                    "confirmation_resolved",
                )
            assert decision == {
                "ok": True,
                "action": "system.task.confirm_replace",
                "new_name": "m2",
                "mode": "replace",
                "replace_existing": True,
            }
            assert decision.get("replace_existing")
            assert decision.outcome == "answered"
            assert decision.confirmation_id == confirmation.id
            assert (await worker.tasks.view(task_id))["status"] == "running"
            assert worker.tasks.cancel_requested(task_id) is False
            # The worker carries on and can ask again.
            await worker.tasks.update_progress(task_id, 0.65, label="Replacing existing artifact")

    run(scenario())


def test_request_confirmation_expires(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=owner, label="A", kind="k")
            decision = await client.tasks.request_confirmation(
                task_id, _surface(client), timeout=0.3
            )
            task = await client.tasks.view(task_id)
        assert decision["ok"] is False
        assert decision.outcome == "expired"
        assert task["status"] == "running"
        assert task["pending_confirmation"] is None

    run(scenario())


def test_request_confirmation_rejects_invalid_surfaces(server: Server) -> None:
    async def scenario() -> None:
        ui = taskcontrol.ui
        async with taskcontrol.connect(server.address) as client:
            task_id = await client.tasks.run_background(owner=new_owner(), label="A", kind="k")
            no_button = ui.Builder().add(ui.Text("t", "Sure?"))
            duplicate = ui.Builder().add(
                ui.Button("b", label="A", action="a"), ui.Button("b", label="B", action="b")
            )
            for builder in (no_button, duplicate, ui.Builder()):
                with pytest.raises(taskcontrol.InvalidArgument):
                    await client.tasks.request_confirmation(task_id, builder)
            assert (await client.tasks.view(task_id))["status"] == "running"

    run(scenario())


def test_one_pending_confirmation_per_task(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as worker, taskcontrol.connect(
            server.address
        ) as ui_client:
            task_id = await worker.tasks.run_background(owner=owner, label="A", kind="k")
            first = asyncio.create_task(
                worker.tasks.request_confirmation(task_id, _surface(worker), request_id="first")
            )
            waiting = await wait_status(worker, task_id, "waiting_confirmation")
            with pytest.raises(taskcontrol.FailedPrecondition):
                await worker.tasks.request_confirmation(
                    task_id, _surface(worker), request_id="second"
                )
            # The same request_id re-attaches: both calls get the answer.
            again = asyncio.create_task(
                worker.tasks.request_confirmation(task_id, _surface(worker), request_id="first")
            )
            await asyncio.sleep(0.2)
            await ui_client.resolve_confirmation(
                waiting["pending_confirmation"]["id"], action="system.task.confirm_cancel"
            )
            decisions = await asyncio.gather(first, again)
        assert [d["action"] for d in decisions] == ["system.task.confirm_cancel"] * 2
        assert all(d["ok"] for d in decisions)

    run(scenario())


def test_cancel_is_observed_by_the_worker(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as worker, taskcontrol.connect(
            server.address
        ) as ui_client:
            task_id = await worker.tasks.run_background(owner=owner, label="Loop", kind="k")
            await worker.tasks.update_progress(task_id, 0.1)
            assert worker.tasks.cancel_requested(task_id) is False
            cancelled = await ui_client.cancel(task_id, reason="user clicked stop")
            assert cancelled["status"] == "cancelled"
            assert cancelled["cancel_requested"] is True
            assert cancelled["cancel_reason"] == "user clicked stop"
            await worker.tasks.update_progress(task_id, 0.2)
            assert worker.tasks.cancel_requested(task_id) is True
            assert (await worker.tasks.view(task_id))["progress"] == 0.1

            emitted = await worker.tasks.run_background(owner=owner, label="Emit", kind="k")
            await ui_client.cancel(emitted)
            assert worker.tasks.cancel_requested(emitted) is False
            await worker.tasks.emit_progress(emitted, label="line")
            assert worker.tasks.cancel_requested(emitted) is True
            # A second cancel is a safe retry; completing a cancelled task is not allowed.
            assert (await ui_client.cancel(emitted))["status"] == "cancelled"
            with pytest.raises(taskcontrol.FailedPrecondition):
                await worker.tasks.complete(emitted)

            # Cancelling while the worker waits on a confirmation ends the wait.
            waiting = await worker.tasks.run_background(owner=owner, label="Ask", kind="k")
            asking = asyncio.create_task(
                worker.tasks.request_confirmation(waiting, _surface(worker))
            )
            await wait_status(worker, waiting, "waiting_confirmation")
            await ui_client.cancel(waiting)
            decision = await asking
            task = await worker.tasks.view(waiting)
        assert decision["ok"] is False
        assert decision.outcome == "cancelled"
        assert decision.cancel_requested is True
        assert worker.tasks.cancel_requested(waiting) is True
        assert task["status"] == "cancelled"

    run(scenario())


def test_watch_snapshot_then_live_and_replay(server: Server) -> None:
    async def scenario() -> None:
        owner = new_owner()
        async with taskcontrol.connect(server.address) as client:
            running = await client.tasks.run_background(owner=owner, label="Running", kind="k")
            ended = await client.tasks.run_background(owner=owner, label="Ended", kind="k")
            await client.tasks.complete(ended)

            events: list[pb.WatchTasksResponse] = []
            stream = client.watch(owner=owner, include_snapshot=True)
            async for event in stream:
                events.append(event)
                if event.WhichOneof("event") == "snapshot_end":
                    await client.tasks.update_progress(running, 0.5, label="Half")
                if event.WhichOneof("event") == "progress":
                    break
            assert [e.WhichOneof("event") for e in events] == [
                "snapshot",
                "snapshot_end",
                "progress",
            ]
            assert events[0].snapshot.task.id == running
            start = events[1].sequence
            assert events[2].sequence > start

            # Replay from the snapshot's sequence: exactly the persisted events after it.
            await client.tasks.complete(running)
            replayed: list[pb.WatchTasksResponse] = []
            async for event in client.watch(owner=owner, after_sequence=start):
                replayed.append(event)
                if event.WhichOneof("event") == "status_changed":
                    break
            assert [e.WhichOneof("event") for e in replayed] == ["progress", "status_changed"]
            assert replayed[0].sequence == events[2].sequence
            assert replayed[1].status_changed.task.status == task_pb2.TASK_STATUS_SUCCEEDED

            # Only the watched task_ids.
            other = await client.tasks.run_background(owner=owner, label="Other", kind="k")
            only: list[pb.WatchTasksResponse] = []
            async for event in client.watch(owner=owner, task_ids=[other], after_sequence=start):
                only.append(event)
                if event.WhichOneof("event") == "task_created":
                    break
            assert [e.WhichOneof("event") for e in only] == ["task_created"]
            assert only[0].task_created.task.id == other

    run(scenario())
