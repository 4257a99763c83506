"""Test support: a real taskcontrol server run as a child process, and asyncio helpers.

The server is ``taskcontrol.testing.ServerProcess`` (the pytest plugin's):
``node --import tsx src/main.ts`` run from the repository root. Without it (no node, no
src/main.ts) the real-server tests skip, except with ``CI=true``, where they fail instead.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Optional,
    TypeVar,
)

import pytest

import taskcontrol
from taskcontrol.testing import ServerProcess as Server
from taskcontrol.v1 import task_control_service_pb2 as pb

T = TypeVar("T")


# grpc.aio binds its process-wide completion queue to the event loop it started on, and
# lets go of it only when every channel was garbage-collected: one loop for all tests.
_LOOP = asyncio.new_event_loop()


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    """Runs a coroutine on the tests' event loop, failing the test after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return _LOOP.run_until_complete(bounded())


@pytest.fixture(scope="session", autouse=True)
def _event_loop() -> Iterator[None]:
    """Closes the tests' event loop at the end of the session."""
    yield
    _LOOP.run_until_complete(_LOOP.shutdown_asyncgens())
    _LOOP.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_owner() -> str:
    """An owner no other test uses, so each test watches only its own tasks."""
    return f"py-{uuid.uuid4().hex[:12]}"


async def wait_status(client: taskcontrol.Client, task_id: str, status: str) -> dict[str, Any]:
    """Polls the task until it has ``status``; returns it."""
    for _ in range(400):
        task = await client.tasks.view(task_id)
        if task["status"] == status:
            return task
        await asyncio.sleep(0.025)
    raise AssertionError(f"task {task_id} never became {status}: {task}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole session (tests keep apart by using their own owners)."""
    instance = Server(tmp_path_factory.mktemp("server") / "t.sqlite")
    instance.start()
    yield instance
    exit_code = instance.stop()
    assert exit_code == 0, "".join(instance.output[-50:])


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own on a fixed port, so it can be restarted at the same
    address on the same database."""
    instance = Server(tmp_path / "t.sqlite", grpc_port=free_port())
    yield instance
    instance.kill()


class Gateway:
    """A Python UI gateway: watches an owner's tasks, records the events and answers
    confirmations with ``answer(confirmation) -> (action, values)``."""

    def __init__(
        self,
        client: taskcontrol.Client,
        owner: str,
        answer: Optional[Callable[[Any], tuple[str, dict[str, Any]]]] = None,
        **watch_args: Any,
    ) -> None:
        self.client = client
        self.owner = owner
        self.answer = answer
        self.watch_args = watch_args
        self.events: list[pb.WatchTasksResponse] = []
        self.resolved: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None

    async def __aenter__(self) -> Gateway:
        self._task = asyncio.create_task(self._watch())
        await self._attached()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _watch(self) -> None:
        events: AsyncIterator[pb.WatchTasksResponse] = self.client.watch(
            owner=self.owner, **self.watch_args
        )
        async for event in events:
            self.events.append(event)
            self._changed.set()
            if event.WhichOneof("event") == "confirmation_requested" and self.answer:
                confirmation = event.confirmation_requested.confirmation
                action, values = self.answer(confirmation)
                self.resolved.append(
                    await self.client.resolve_confirmation(
                        confirmation.id, action=action, values=values
                    )
                )

    async def wait_for(
        self,
        predicate: Callable[[list[pb.WatchTasksResponse]], bool],
        what: str,
        timeout: float = 20.0,
    ) -> None:
        """Waits until ``predicate(events)`` holds."""

        async def poll() -> None:
            while not predicate(self.events):
                self._changed.clear()
                assert self._task is not None
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the watch ended")
                await self._changed.wait()

        try:
            await asyncio.wait_for(poll(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; saw {self.kinds()}") from None

    async def _attached(self) -> None:
        """Waits until the watch is live: finishes marker tasks until one's end is seen."""
        for _ in range(40):
            marker = await self.client.tasks.run_background(
                owner=self.owner, label="gateway attached", kind="test.marker"
            )
            await self.client.tasks.complete(marker)
            try:
                await self.wait_for(
                    lambda events: bool(self.of(marker, "status_changed")),
                    what="the marker task",
                    timeout=0.5,
                )
                return
            except AssertionError:
                continue
        raise AssertionError(f"the watch never attached; saw {self.kinds()}")

    def kinds(self, task_id: Optional[str] = None) -> list[str]:
        """The kinds of the events seen so far, optionally only of one task."""
        return [
            str(e.WhichOneof("event"))
            for e in self.events
            if task_id is None or event_task_id(e) == task_id
        ]

    def of(self, task_id: str, kind: Optional[str] = None) -> list[pb.WatchTasksResponse]:
        """The events seen for ``task_id``, optionally only of one kind."""
        return [
            e
            for e in self.events
            if event_task_id(e) == task_id and (kind is None or e.WhichOneof("event") == kind)
        ]


def event_task_id(event: pb.WatchTasksResponse) -> str:
    """The id of the task an event is about ("" for snapshot_end and bookmark)."""
    kind = event.WhichOneof("event")
    if kind in ("snapshot", "task_created", "status_changed"):
        return str(getattr(event, kind).task.id)
    if kind == "progress":
        return str(event.progress.task_id)
    if kind in ("confirmation_requested", "confirmation_resolved"):
        return str(getattr(event, kind).confirmation.task_id)
    return ""
