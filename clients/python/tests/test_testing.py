"""The pytest plugin taskcontrol.testing: the worked example of TESTING.md run as a user's
project would run it, a server with auth from start_server, next_confirmation's timeout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import new_owner, run

import taskcontrol
from taskcontrol.testing import Principal, next_confirmation, start_server

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "testing"


def test_the_worked_example_passes_as_its_own_pytest_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout


def test_start_server_with_principals_checks_their_tokens() -> None:
    with start_server(
        principals=[Principal("w", "worker"), Principal("alice", "user", owner="alice")]
    ) as server:

        async def scenario() -> None:
            async with taskcontrol.connect(server.address, token=server.tokens["w"]) as worker:
                task_id = await worker.tasks.run_background(owner="alice", label="for alice")
            async with taskcontrol.connect(server.address, token=server.tokens["alice"]) as alice:
                assert (await alice.tasks.view(task_id))["label"] == "for alice"
            quick = taskcontrol.RetryPolicy(max_elapsed=0.5)
            async with taskcontrol.connect(server.address, token="wrong", retry=quick) as anyone:
                with pytest.raises(taskcontrol.PermissionDenied):
                    await anyone.tasks.view(task_id)

        run(scenario())
        assert server.process is not None
    assert server.process.poll() is not None, "the server stops with the block"


def test_next_confirmation_gives_up_after_its_timeout() -> None:
    with start_server() as server:

        async def scenario() -> None:
            async with taskcontrol.connect(server.address) as client:
                with pytest.raises(TimeoutError):
                    await next_confirmation(client, owner=new_owner(), timeout=0.3)

        run(scenario())
