"""The real taskcontrol server for a worker's own tests: a pytest plugin and its parts.

Enable it in your ``conftest.py``::

    pytest_plugins = ["taskcontrol.testing"]

and take the ``taskcontrol_env`` fixture: a :class:`Harness` with a connected ``client``, the
``server`` it talks to, ``run(coro)`` to run a coroutine on the tests' one event loop and
``next_confirmation(...)`` to wait for the confirmation your worker asks for, so the test
can answer it in the place of the user::

    def test_replaces_when_told(taskcontrol_env):
        async def scenario():
            worker = asyncio.ensure_future(my_worker(taskcontrol_env.client))
            asked = await taskcontrol_env.next_confirmation(owner="alice")
            await taskcontrol_env.client.resolve_confirmation(asked["id"], action="replace")
            assert await worker == "replaced"
        taskcontrol_env.run(scenario())

The server is the real one, not a mock: ``node --import tsx src/main.ts`` of this checkout
(or the command in ``TASKCONTROL_SERVER_COMMAND``), one process per test session, on
127.0.0.1 with free ports and SQLite in memory. Tests keep apart by using their own owners
(``taskcontrol_env.new_owner()``). :func:`start_server` starts others (auth, flags) for your own
fixtures. Without node the tests skip, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Iterator, Optional, Sequence, TypeVar

import pytest

import taskcontrol
from taskcontrol._convert import to_dict

__all__ = [
    "Harness",
    "Principal",
    "ServerProcess",
    "next_confirmation",
    "start_server",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER_ENTRY = REPO_ROOT / "src" / "main.ts"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def server_command() -> list[str]:
    """The server's command line: ``TASKCONTROL_SERVER_COMMAND`` (split like a shell), else
    ``node --import tsx src/main.ts`` of this checkout. Skips the test (fails it in CI) when
    neither is there."""
    configured = os.environ.get("TASKCONTROL_SERVER_COMMAND")
    if configured:
        return shlex.split(configured)
    node = shutil.which("node")
    if node is None or not SERVER_ENTRY.exists():
        message = f"no taskcontrol server to test against (node={node}, {SERVER_ENTRY} missing?)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return [node, "--import", "tsx", str(SERVER_ENTRY.relative_to(REPO_ROOT))]


@dataclass(frozen=True)
class Principal:
    """A principal of a test server's auth file; ``token`` is made up when empty."""

    name: str
    role: str
    owner: Optional[str] = None
    token: str = ""


class ServerProcess:
    """The taskcontrol server as a child process, on SQLite ``db`` (``":memory:"`` keeps
    nothing), with ``extra_args`` (e.g. ``--auth-file``) appended to its command line.
    ``grpc_port`` 0 picks a free port; a fixed one lets a test restart it at the same address."""

    def __init__(
        self, db: Any = ":memory:", grpc_port: int = 0, extra_args: Sequence[str] = ()
    ) -> None:
        self.db = db
        self.grpc_port = grpc_port
        self.extra_args = list(extra_args)
        self.address = ""
        """``127.0.0.1:PORT`` of the gRPC listener, once started."""
        self.http_address = ""
        """``127.0.0.1:PORT`` of the HTTP listener (Connect, gRPC-Web, the monitor)."""
        self.tokens: dict[str, str] = {}
        """The bearer token of each principal, by name (see :func:`start_server`)."""
        self.process: Optional[subprocess.Popen[str]] = None
        self.output: list[str] = []

    def start(self) -> None:
        """Starts the server and waits for its ``taskcontrol serving`` line."""
        command = server_command()
        self.output = []
        process = subprocess.Popen(
            [
                *command,
                "--grpc-listen",
                f"127.0.0.1:{self.grpc_port}",
                "--http-listen",
                "127.0.0.1:0",
                "--db",
                str(self.db),
                *self.extra_args,
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.process = process
        first_line: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if not first_line.qsize() and line.startswith("taskcontrol serving "):
                    first_line.put(line)
                self.output.append(line)
            first_line.put("")

        threading.Thread(target=drain, daemon=True).start()
        try:
            line = first_line.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = ""
        if not line:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "".join(self.output[-50:]))
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        self.address = fields["grpc"]
        self.http_address = fields["http"]

    def stop(self) -> int:
        """Sends SIGTERM and waits for the exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("the server did not exit within 30 s of SIGTERM") from None

    def kill(self) -> None:
        """Kills the server if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def start_server(
    principals: Sequence[Principal] = (), args: Sequence[str] = ()
) -> Iterator[ServerProcess]:
    """Runs a real server for the ``with`` block: SQLite in memory, free ports, auth on
    with ``principals`` (their tokens in ``server.tokens``) if any, and any other server
    flags in ``args`` (``npm start -- --help`` lists them). Stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="taskcontrol-test-") as tmp:
        extra = ["--bookmark-interval-ms", "1000", "--shutdown-grace-ms", "500"]
        tokens: dict[str, str] = {}
        if principals:
            entries = []
            for p in principals:
                token = p.token or secrets.token_urlsafe(18)
                tokens[p.name] = token
                entry: dict[str, str] = {
                    "name": p.name,
                    "role": p.role,
                    "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                }
                if p.owner is not None:
                    entry["owner"] = p.owner
                entries.append(entry)
            auth_file = Path(tmp) / "auth.json"
            auth_file.write_text(json.dumps({"principals": entries}))
            extra += ["--auth-file", str(auth_file)]
        server = ServerProcess(extra_args=[*extra, *args])
        server.tokens = tokens
        server.start()
        try:
            yield server
        finally:
            if server.process is not None and server.process.poll() is None:
                server.stop()


async def next_confirmation(
    client: taskcontrol.Client,
    task_id: Optional[str] = None,
    owner: str = "",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Returns the first pending confirmation of ``task_id`` (or of ``owner``'s tasks) as a
    dict (``id``, ``title``, ``components``, ...), one already pending included: what a test
    answers with ``client.resolve_confirmation(asked["id"], action=...)``. Raises
    TimeoutError after ``timeout`` seconds."""

    async def first() -> dict[str, Any]:
        events = client.watch(
            owner=owner, task_ids=[task_id] if task_id else None, include_snapshot=True
        )
        try:
            async for event in events:
                kind = event.WhichOneof("event")
                if kind == "snapshot" and event.snapshot.task.HasField("pending_confirmation"):
                    return to_dict(event.snapshot.task.pending_confirmation)
                if kind == "confirmation_requested":
                    return to_dict(event.confirmation_requested.confirmation)
        finally:
            await events.aclose()
        raise AssertionError("the watch ended")

    try:
        return await asyncio.wait_for(first(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no confirmation was requested within {timeout} s") from None


class Harness:
    """What the ``taskcontrol_env`` fixture hands a test: a connected ``client`` of ``server``
    and the one event loop its coroutines run on."""

    def __init__(
        self, server: ServerProcess, loop: asyncio.AbstractEventLoop, client: taskcontrol.Client
    ) -> None:
        self.server = server
        self.client = client
        self._loop = loop

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        """Runs a coroutine on the tests' event loop; fails the test after ``timeout`` s."""

        async def bounded() -> T:
            return await asyncio.wait_for(coro, timeout)

        return self._loop.run_until_complete(bounded())

    def connect(self, principal: Optional[str] = None) -> taskcontrol.Client:
        """Another client of the server (as ``principal``'s token, when auth is on); close it
        with ``await client.close()``."""
        token = self.server.tokens[principal] if principal is not None else None
        return self.run(taskcontrol.connect(self.server.address, token=token))

    async def next_confirmation(
        self, task_id: Optional[str] = None, owner: str = "", timeout: float = 10.0
    ) -> dict[str, Any]:
        """:func:`next_confirmation` with this harness's client."""
        return await next_confirmation(self.client, task_id=task_id, owner=owner, timeout=timeout)

    @staticmethod
    def new_owner() -> str:
        """An owner no other test uses."""
        return f"test-{uuid.uuid4().hex[:12]}"


# grpc.aio binds its completion queue to the loop it first ran on: one loop per session.
@pytest.fixture(scope="session")
def taskcontrol_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The event loop every coroutine of the session's taskcontrol fixtures runs on."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(scope="session")
def taskcontrol_server() -> Iterator[ServerProcess]:
    """One real server for the whole session (auth off, SQLite in memory)."""
    with start_server() as server:
        yield server


@pytest.fixture
def taskcontrol_env(
    taskcontrol_server: ServerProcess, taskcontrol_loop: asyncio.AbstractEventLoop
) -> Iterator[Harness]:
    """A :class:`Harness`: a client connected to the session's server, closed after the test."""
    client = taskcontrol_loop.run_until_complete(taskcontrol.connect(taskcontrol_server.address))
    yield Harness(taskcontrol_server, taskcontrol_loop, client)
    taskcontrol_loop.run_until_complete(client.close())

