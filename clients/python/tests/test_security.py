"""Bearer tokens and TLS against the real server (--auth-file, --tls-cert/--tls-key)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from conftest import Server, new_owner, run, wait_status

import taskcontrol
from taskcontrol.v1 import task_control_service_pb2 as pb

TLS_DIR = Path(__file__).resolve().parent / "tls"
CA = TLS_DIR / "localhost.crt"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_tokens_roles_and_tls(tmp_path: Path) -> None:
    alice = new_owner()
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps(
            {
                "principals": [
                    {"name": "worker", "role": "worker", "token_sha256": _sha256("w-token")},
                    {
                        "name": "alice",
                        "role": "user",
                        "owner": alice,
                        "token_sha256": _sha256("a-token"),
                    },
                    {
                        "name": "bob",
                        "role": "user",
                        "owner": "bob",
                        "token_sha256": _sha256("b-token"),
                    },
                    {"name": "gw", "role": "gateway", "token_sha256": _sha256("g-token")},
                ]
            }
        )
    )
    server = Server(
        tmp_path / "t.sqlite",
        extra_args=[
            "--auth-file",
            str(auth_file),
            "--tls-cert",
            str(CA),
            "--tls-key",
            str(TLS_DIR / "localhost.key"),
        ],
    )
    server.start()
    address = server.address
    quick = taskcontrol.RetryPolicy(initial_backoff=0.05, max_backoff=0.1, max_elapsed=1.0)

    async def scenario() -> None:
        async with taskcontrol.connect(
            address, token="w-token", tls=str(CA)
        ) as worker, taskcontrol.connect(
            address, token="a-token", tls=CA
        ) as user, taskcontrol.connect(
            address, token="b-token", tls=True, retry=quick
        ) as no_ca, taskcontrol.connect(
            address, token="b-token", tls=CA
        ) as bob, taskcontrol.connect(
            address, token="g-token", tls=CA
        ) as gateway:
            task_id = await worker.tasks.run_background(owner=alice, label="Install", kind="k")

            # The user watches their own tasks (empty owner) and answers the confirmation.
            events = user.watch(include_snapshot=True)
            first = await events.__anext__()
            assert first.WhichOneof("event") == "snapshot"
            assert first.snapshot.task.id == task_id
            assert (await events.__anext__()).WhichOneof("event") == "snapshot_end"
            builder = worker.ui.Builder().add(
                worker.ui.Button("go", label="Go", action="go"),
                worker.ui.Button("stop", label="Stop", action="stop"),
            )
            asking = asyncio.create_task(worker.tasks.request_confirmation(task_id, builder))
            requested: pb.WatchTasksResponse
            async for event in events:
                if event.WhichOneof("event") == "confirmation_requested":
                    requested = event
                    break
            await events.aclose()
            confirmation_id = requested.confirmation_requested.confirmation.id
            with pytest.raises(taskcontrol.ConfirmationNotFound):
                await bob.resolve_confirmation(confirmation_id, action="go")
            await user.resolve_confirmation(confirmation_id, action="go")
            assert (await asking)["ok"] is True

            # Another user's task looks missing; roles limit the calls.
            with pytest.raises(taskcontrol.TaskNotFound):
                await bob.tasks.view(task_id)
            with pytest.raises(taskcontrol.PermissionDenied):
                await user.tasks.run_background(owner=alice, label="x", kind="k")
            with pytest.raises(taskcontrol.PermissionDenied):
                await worker.cancel(task_id)
            # The system roots do not trust the test CA: the handshake never succeeds.
            with pytest.raises(taskcontrol.Unavailable):
                await no_ca.tasks.view(task_id)

            # A gateway acts for any owner.
            assert (await gateway.tasks.view(task_id))["owner"] == alice
            await gateway.cancel(task_id, reason="stop")
            await worker.tasks.update_progress(task_id, 0.5)
            assert worker.tasks.cancel_requested(task_id) is True
            await wait_status(user, task_id, "cancelled")

        for token in (None, "wrong-token"):
            async with taskcontrol.connect(address, token=token, tls=CA) as anonymous:
                with pytest.raises(taskcontrol.PermissionDenied) as caught:
                    await anonymous.tasks.view("any")
                assert caught.value.code.name == "UNAUTHENTICATED"
        # Plaintext against the TLS listener never gets through.
        async with taskcontrol.connect(address, token="w-token", retry=quick) as plaintext:
            with pytest.raises(taskcontrol.Unavailable):
                await plaintext.tasks.view("any")

    try:
        run(scenario())
    finally:
        assert server.stop() == 0
