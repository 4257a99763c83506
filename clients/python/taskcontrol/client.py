"""The asyncio client: ``connect()``, the worker API ``client.tasks`` and the gateway calls."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import random
import re
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

import grpc
from google.protobuf import json_format

from taskcontrol import errors, ui
from taskcontrol._convert import enum_name, to_dict, to_struct
from taskcontrol.v1 import task_control_service_pb2 as pb
from taskcontrol.v1 import task_control_service_pb2_grpc as pb_grpc
from taskcontrol.v1 import task_pb2

__all__ = [
    "BackgroundJob",
    "Client",
    "Decision",
    "JobHandle",
    "RetryPolicy",
    "Tasks",
    "UI",
    "connect",
]

_log = logging.getLogger("taskcontrol")

_log = logging.getLogger("taskcontrol")
"""The SDK's logger: one warning when the server stops answering, each retry at debug."""

_Response = TypeVar("_Response")
Metadata = tuple[tuple[str, str], ...]
TlsOption = Union[None, bool, str, "os.PathLike[str]", grpc.ChannelCredentials]


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries while the service is unreachable (UNAVAILABLE).

    Only calls that are safe to repeat are retried, and every call the SDK makes is one:

    - reads (``view``, ``list``, ``watch``) and ``emit_progress`` / ``heartbeat`` (nothing
      stored, or only the lease in memory);
    - ``update_progress`` (it sets absolute values: a repeat stores the same progress,
      checkpoint and label again);
    - ``run_background`` / ``claim`` / ``request_confirmation``, which always carry a
      ``request_id`` (made up when not given): a repeat returns what the first call made;
    - ``complete``, ``fail`` and ``cancel``: the service answers a repeat of a terminal call
      that already took effect (the same result, the same message, a cancel) with OK and the
      task as it is; ``resolve_confirmation`` likewise for the same answer.

    So an UNAVAILABLE that hid a committed call never becomes an error: the retry finds the
    call applied and answers OK. A retry that meets a different outcome (the task was
    cancelled meanwhile) raises :class:`taskcontrol.FailedPrecondition`, and one that meets a
    claim raises :class:`taskcontrol.AttemptSuperseded`.

    The wait before attempt n is ``initial_backoff * multiplier**n`` seconds (jittered,
    capped at ``max_backoff``). ``max_elapsed`` is the give-up time: an outage longer than
    that many seconds raises :class:`taskcontrol.Unavailable` naming the address; None
    retries forever. The clock restarts whenever a call gets through, so a held
    confirmation or a watch survives any number of separate restarts. The first failed
    attempt of an outage logs one warning on the ``taskcontrol`` logger naming the address;
    each retry logs at debug.
    """

    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    max_elapsed: Optional[float] = 60.0


class _Link:
    """What a client's calls share about reaching the server: its address, and whether the
    current outage was already reported (once per outage, not once per call)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._warned = False

    def failed(self, error: errors.TaskControlError, policy: RetryPolicy) -> None:
        if self._warned:
            return
        self._warned = True
        limit = "forever" if policy.max_elapsed is None else f"for up to {policy.max_elapsed:g} s"
        _log.warning(
            "taskcontrol: cannot reach the server at %s (%s); retrying %s (RetryPolicy.max_elapsed)",
            self.address,
            error.details,
            limit,
        )

    def reached(self) -> None:
        if self._warned:
            _log.info("taskcontrol: the server at %s answers again", self.address)
        self._warned = False


class _Backoff:
    """The retry state of one logical call across its attempts."""

    def __init__(self, policy: RetryPolicy, link: Optional[_Link] = None) -> None:
        self._policy = policy
        self._link = link or _Link("the server")
        self._delay = policy.initial_backoff
        self._since: Optional[float] = None
        self._attempt = 0

    def reset(self) -> None:
        """Forgets the outage: the call got through."""
        self._delay = self._policy.initial_backoff
        self._since = None
        self._attempt = 0
        self._link.reached()

    async def wait(self, error: errors.TaskControlError) -> None:
        """Sleeps before the next attempt, or raises Unavailable once the outage is too long."""
        now = asyncio.get_running_loop().time()
        if self._since is None:
            self._since = now
        self._link.failed(error, self._policy)
        limit = self._policy.max_elapsed
        if limit is not None and now + self._delay - self._since > limit:
            raise errors.Unavailable(
                error.code,
                f"the server at {self._link.address} did not answer for {now - self._since:.1f} s "
                f"(RetryPolicy.max_elapsed={limit:g}): {error.details}",
                error.reason,
                error.metadata,
                error.field_violations,
                error.retry_delay,
            ) from error
        self._attempt += 1
        delay = self._delay * random.uniform(0.8, 1.0)
        _log.debug(
            "taskcontrol: %s: retry %d in %.2f s (%s)", self._link.address, self._attempt, delay, error.details
        )
        await asyncio.sleep(delay)
        self._delay = min(self._delay * self._policy.multiplier, self._policy.max_backoff)


_ADDRESS = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.%\w-]+\]|[^:/\[\]]+):(?P<port>\d{1,5})(?P<path>/.*)?$")


def parse_address(address: str) -> tuple[str, bool]:
    """Reads a server address as every taskcontrol client does: ``host:port``,
    ``http://host:port`` (plaintext) or ``https://host:port`` (TLS); a trailing ``/`` is
    allowed. Returns the gRPC target ``host:port`` and whether the form asks for TLS.
    Raises ValueError saying what is wrong for anything else."""
    m = _ADDRESS.match(address.strip())
    scheme = (m.group("scheme") or "").lower() if m else ""
    if m is None or scheme not in ("", "http", "https") or (m.group("path") or "/") != "/":
        raise ValueError(
            f"taskcontrol address {address!r}: give host:port, http://host:port or https://host:port"
            " (e.g. 127.0.0.1:50051)"
        )
    port = int(m.group("port"))
    if port > 65535:
        raise ValueError(f"taskcontrol address {address!r}: the port must be a number from 0 to 65535")
    return f"{m.group('host')}:{port}", scheme == "https"


class Decision(dict[str, Any]):
    """What ``request_confirmation`` returns: ``{"ok": bool, "action": str, **values}``.

    ``ok`` is True only when a person answered (it is False when the confirmation expired,
    even with a ``timeout_action`` taken, or the task was cancelled); ``action`` is the chosen
    button's action (or the ``timeout_action`` the timeout took; "" otherwise); the values
    follow, keyed by component id, with the clicked button's ``value`` merged in ("ok" and
    "action" win over values with those keys; :attr:`inputs` keeps all of them).

    Attributes: ``outcome`` (``"answered"``, ``"expired"`` or ``"cancelled"``),
    ``answered_by`` (the answering principal's name, "anonymous" with auth off; "" unless
    answered), ``defaulted`` (True when the timeout took ``timeout_action``),
    ``confirmation_id``, ``inputs`` (the merged values alone) and ``cancel_requested``.
    """

    def __init__(self, resolved: pb.RequestConfirmationResponse.Resolved) -> None:
        values: dict[str, Any] = (
            json_format.MessageToDict(resolved.values) if resolved.HasField("values") else {}
        )
        ok = resolved.outcome == task_pb2.CONFIRMATION_STATE_ANSWERED
        super().__init__({**values, "ok": ok, "action": resolved.action})
        self.outcome: str = enum_name(task_pb2.ConfirmationState.DESCRIPTOR, resolved.outcome)
        self.confirmation_id: str = resolved.confirmation_id
        self.inputs: dict[str, Any] = values
        self.cancel_requested: bool = resolved.cancel_requested
        self.answered_by: str = resolved.answered_by
        self.defaulted: bool = resolved.defaulted


class UI:
    """The UI primitives as ``client.ui``: the classes of the module ``taskcontrol.ui``."""

    Builder = ui.Builder
    Text = ui.Text
    Button = ui.Button
    TextInput = ui.TextInput
    Select = ui.Select
    Option = ui.Option
    Checkbox = ui.Checkbox
    NumberInput = ui.NumberInput


def _credentials(tls: TlsOption) -> Optional[grpc.ChannelCredentials]:
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    if isinstance(tls, (str, os.PathLike)):
        return grpc.ssl_channel_credentials(root_certificates=Path(tls).read_bytes())
    raise TypeError(f"tls must be None, a bool, a CA file path or grpc credentials, not {tls!r}")


class Client:
    """A connection to the taskcontrol service.

    Workers use :attr:`tasks` and :attr:`ui`; gateways use :meth:`watch`,
    :meth:`resolve_confirmation` and :meth:`cancel`. Create it with :func:`connect`;
    close it with :meth:`close` or by using it as an async context manager.
    """

    def __init__(
        self, channel: grpc.aio.Channel, token: Optional[str], retry: RetryPolicy, address: str = ""
    ) -> None:
        self._link = _Link(address or "the server")
        self._channel = channel
        self._stub = pb_grpc.TaskControlServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata: Optional[Metadata] = (
            (("authorization", f"Bearer {token}"),) if token else None
        )
        self._retry = retry
        self.tasks = Tasks(self)
        """The worker API: ``run_background``, ``update_progress``, ``emit_progress``, ..."""
        self.ui = UI()
        """The UI primitives (``Builder``, ``Text``, ``Button``, ...) of ``taskcontrol.ui``."""

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection; calls still running are cancelled."""
        await self._channel.close()

    async def _unary(
        self,
        method: Callable[..., Awaitable[_Response]],
        request: Any,
        not_found: type[errors.TaskControlError] = errors.TaskNotFound,
    ) -> _Response:
        """Makes a unary call, retrying UNAVAILABLE with backoff, and translates errors."""
        backoff = self._backoff()
        while True:
            try:
                response = await method(request, metadata=self._metadata)
                self._link.reached()
                return response
            except grpc.aio.AioRpcError as error:
                translated = errors.from_rpc_error(error, not_found)
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise translated from error
                await backoff.wait(translated)

    def _backoff(self) -> _Backoff:
        """The retry state of one logical call, reporting to this client's link."""
        return _Backoff(self._retry, self._link)

    async def watch(
        self,
        owner: str = "",
        task_ids: Optional[Iterable[str]] = None,
        include_snapshot: bool = False,
        after_sequence: Optional[int] = None,
    ) -> AsyncGenerator[pb.WatchTasksResponse, None]:
        """Streams the task events of ``owner`` (or of ``task_ids``) as the contract's
        ``WatchTasksResponse`` messages, forever.

        With ``include_snapshot`` the stream starts with the matching unfinished tasks
        (``snapshot`` events, then ``snapshot_end``); with ``after_sequence`` it first
        replays the persisted events after that sequence. When the stream drops
        (UNAVAILABLE, the service restarting, or RESOURCE_EXHAUSTED for a watcher that fell
        behind) it resumes by itself after the last sequence it saw, so no persisted event is
        missed or repeated; live (emitted) lines sent during the gap are lost, as the
        contract says. A drop during the snapshot restarts the snapshot. Raises
        :class:`taskcontrol.SequenceOutOfRange` when the sequence is older than the
        service's log, and :class:`taskcontrol.Unavailable` after ``RetryPolicy.max_elapsed``.
        Stop by leaving the ``async for`` loop (or with ``aclose()``).
        """
        ids = list(task_ids or ())
        sequence = after_sequence
        in_snapshot = include_snapshot
        backoff = self._backoff()
        while True:
            request = pb.WatchTasksRequest(owner=owner, task_ids=ids, include_snapshot=in_snapshot)
            if sequence is not None:
                request.after_sequence = sequence
            call = self._stub.WatchTasks(request, metadata=self._metadata)
            try:
                async for event in call:
                    backoff.reset()
                    kind = event.WhichOneof("event")
                    if kind == "snapshot_end":
                        in_snapshot = False
                        sequence = event.sequence
                    elif not in_snapshot:
                        sequence = max(sequence or 0, event.sequence)
                    yield event
                error: errors.TaskControlError = errors.Unavailable(
                    grpc.StatusCode.UNAVAILABLE, "the service ended the watch stream"
                )
            except grpc.aio.AioRpcError as rpc_error:
                error = errors.from_rpc_error(rpc_error)
                if rpc_error.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                ):
                    raise error from rpc_error
            finally:
                call.cancel()
            await backoff.wait(error)

    async def resolve_confirmation(
        self,
        confirmation_id: str,
        action: str,
        values: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]:
        """Answers a pending confirmation (the gateway side of ``request_confirmation``).

        ``action`` must be one of the surface's buttons' actions; ``values`` maps input
        component ids to their values (strings, or bools for checkboxes). Returns the
        answered confirmation as a dict. The first answer wins: a later one raises
        :class:`taskcontrol.FailedPrecondition`; an unknown id raises
        :class:`taskcontrol.ConfirmationNotFound`.
        """
        request = pb.ResolveConfirmationRequest(
            confirmation_id=confirmation_id, action=action, values=to_struct(values)
        )
        response = await self._unary(
            self._stub.ResolveConfirmation, request, errors.ConfirmationNotFound
        )
        return to_dict(response.confirmation)

    async def cancel(self, task_id: str, reason: Optional[str] = None) -> dict[str, Any]:
        """Cancels a task: it ends CANCELLED, its pending confirmation (if any) ends
        CANCELLED, and its worker learns it through ``cancel_requested``. Returns the task
        as a dict."""
        request = pb.CancelTaskRequest(task_id=task_id, reason=reason or "")
        response = await self._unary(self._stub.CancelTask, request)
        return to_dict(response.task)


@dataclass
class JobHandle:
    """What a job run by :meth:`Tasks.run_background` gets: its task and attempt.

    ``checkpoint`` is the task's stored checkpoint when the job starts (after a claim: the
    last one the previous attempt stored, to resume from). The methods report for this
    attempt: once another attempt claimed the task they raise
    :class:`taskcontrol.AttemptSuperseded`. ``cancel_reason`` is set when the task was
    cancelled (the job is then cancelled with that reason as the ``CancelledError`` message).
    """

    id: str
    attempt: int
    owner: str
    checkpoint: Optional[dict[str, Any]]
    tasks: "Tasks"
    cancel_reason: Optional[str] = None

    async def update_progress(
        self, progress: float, checkpoint: Optional[Mapping[str, Any]] = None, label: Optional[str] = None
    ) -> None:
        """``Tasks.update_progress`` for this attempt."""
        await self.tasks.update_progress(self.id, progress, checkpoint=checkpoint, label=label, attempt=self.attempt)

    async def emit_progress(
        self,
        progress: Optional[float] = None,
        label: Optional[str] = None,
        checkpoint: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """``Tasks.emit_progress`` for this attempt."""
        await self.tasks.emit_progress(self.id, progress, label=label, checkpoint=checkpoint, attempt=self.attempt)

    async def request_confirmation(
        self,
        builder: ui.Builder,
        timeout: Union[None, float, datetime.timedelta] = None,
        request_id: Optional[str] = None,
    ) -> Decision:
        """``Tasks.request_confirmation`` for this attempt."""
        return await self.tasks.request_confirmation(
            self.id, builder, timeout=timeout, request_id=request_id, attempt=self.attempt
        )


class BackgroundJob(str):
    """The task id of a job started by :meth:`Tasks.run_background` (a ``str``, usable
    wherever a task id is), with the running job: ``await job.result()`` waits for it and
    returns the coroutine's return value (re-raising its exception, or ``CancelledError`` if
    the task was cancelled); ``job.handle`` is its :class:`JobHandle`."""

    handle: JobHandle
    future: "asyncio.Future[Any]"

    def __new__(cls, handle: JobHandle, future: "asyncio.Future[Any]") -> "BackgroundJob":
        job = super().__new__(cls, handle.id)
        job.handle = handle
        job.future = future
        return job

    async def result(self) -> Any:
        """Waits for the job and returns what the coroutine returned."""
        return await asyncio.shield(self.future)


Job = Callable[[JobHandle], Awaitable[Any]]


class Tasks:
    """The worker API, mirroring the seed's ``module_sdk.tasks``."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._stub = client._stub
        self._cancel_requested: dict[str, bool] = {}

    def cancel_requested(self, task_id: str) -> bool:
        """True if the last response about the task said the user cancelled it: the worker
        should stop cooperatively. Updated by every call on the task (``update_progress``,
        ``emit_progress``, ``request_confirmation``, ``view``, ...); False before any."""
        return self._cancel_requested.get(task_id, False)

    def _saw_task(self, task: task_pb2.Task) -> dict[str, Any]:
        self._cancel_requested[task.id] = task.cancel_requested
        return to_dict(task)

    async def run_background(
        self,
        job: Union[Job, str, None] = None,
        owner: str = "",
        label: str = "",
        kind: str = "",
        request_id: Optional[str] = None,
        checkpoint: Optional[Mapping[str, Any]] = None,
        *,
        lease: Optional[float] = None,
        resume: Optional[str] = None,
    ) -> str:
        """Creates a running task (progress 0) for ``owner`` and returns its id.

        The same ``request_id`` again returns the same task. Without one the SDK makes
        one up, so that retrying after UNAVAILABLE never creates a second task.

        With a coroutine function ``job`` (``run_background(job, owner=..., lease=60)``) it
        also runs the job: ``job(handle)`` gets a :class:`JobHandle` (``handle.id``,
        ``handle.attempt``, ``handle.checkpoint``) and runs as an asyncio task in the
        background. The task gets a lease of ``lease`` seconds (default 60) and the SDK
        heartbeats every ``lease / 3`` while the job runs, so a worker that dies goes STALLED
        within the lease. The job's return value completes the task (a mapping as the result,
        anything else as ``{"value": ...}``); an exception fails it with the exception's
        message and ``{"type", "traceback"}`` in ``details``; a cancel of the task (pushed on
        a watch of the task, or seen by a heartbeat) cancels the coroutine with the reason as
        the ``CancelledError`` message. If another attempt claims the task, the job is
        cancelled and the task left to it. ``resume=task_id`` claims that (stalled) task
        instead of creating one and runs the job as its new attempt, from its checkpoint.
        Returns a :class:`BackgroundJob` (the task id; ``await it.result()`` waits for the
        job). Without ``job`` (or with the owner as a first positional argument) only the
        task is created, for callers with their own loop.
        """
        if isinstance(job, str):
            owner, job = job, None
        if job is None and resume is None:
            if lease is not None:
                raise TypeError("lease needs a job: without one nothing would heartbeat")
            response = await self._client._unary(
                self._stub.CreateTask, self._create_request(owner, label, kind, request_id, checkpoint, None)
            )
            self._saw_task(response.task)
            return str(response.task.id)
        if job is None:
            raise TypeError("resume needs a job to run")
        lease_s = 60.0 if lease is None else float(lease)
        if resume is not None:
            task = await self._claim(resume, lease_s, request_id)
        else:
            response = await self._client._unary(
                self._stub.CreateTask, self._create_request(owner, label, kind, request_id, checkpoint, lease_s)
            )
            task = response.task
        self._saw_task(task)
        handle = JobHandle(
            id=task.id,
            attempt=int(task.attempt),
            owner=task.owner,
            checkpoint=json_format.MessageToDict(task.checkpoint) if task.HasField("checkpoint") else None,
            tasks=self,
        )
        future = asyncio.ensure_future(self._run_job(handle, job, lease_s))
        return BackgroundJob(handle, future)

    def _create_request(
        self,
        owner: str,
        label: str,
        kind: str,
        request_id: Optional[str],
        checkpoint: Optional[Mapping[str, Any]],
        lease: Optional[float],
    ) -> pb.CreateTaskRequest:
        request = pb.CreateTaskRequest(
            owner=owner,
            kind=kind,
            label=label,
            checkpoint=to_struct(checkpoint),
            request_id=request_id or f"py-{uuid.uuid4().hex}",
        )
        if lease is not None:
            request.lease_duration.FromTimedelta(datetime.timedelta(seconds=lease))
        return request

    async def _claim(self, task_id: str, lease: Optional[float], request_id: Optional[str]) -> task_pb2.Task:
        request = pb.ClaimTaskRequest(task_id=task_id, request_id=request_id or f"py-{uuid.uuid4().hex}")
        if lease is not None:
            request.lease_duration.FromTimedelta(datetime.timedelta(seconds=lease))
        response = await self._client._unary(self._stub.ClaimTask, request)
        return response.task

    async def claim(
        self, task_id: str, lease: Optional[float] = None, request_id: Optional[str] = None
    ) -> dict[str, Any]:
        """Takes over a task that is not finished (a supervisor resuming a stalled job):
        its attempt goes up by one and it gets a fresh lease (``lease`` seconds, or the task's
        own), STALLED becomes RUNNING, progress, label, checkpoint and a pending confirmation
        stay. Calls of the previous attempt raise :class:`taskcontrol.AttemptSuperseded` from
        then on. Returns the task as a dict (``attempt`` is the new one). The same
        ``request_id`` again returns the same claim (one is made up, so a retry after
        UNAVAILABLE never claims twice). A finished task raises
        :class:`taskcontrol.FailedPrecondition`. To run a job on it, use
        ``run_background(job, resume=task_id)``."""
        return self._saw_task(await self._claim(task_id, lease, request_id))

    async def heartbeat(self, task_id: str, attempt: int = 0) -> dict[str, Any]:
        """Renews the lease of the task's ``attempt`` (0: whichever is current) without a
        write; a STALLED task becomes RUNNING again. Returns ``{"found", "status",
        "cancel_requested", "lease_expire_time"}``. ``run_background`` with a job calls it
        for you."""
        response = await self._client._unary(
            self._stub.Heartbeat, pb.HeartbeatRequest(task_id=task_id, attempt=attempt)
        )
        if response.found:
            self._cancel_requested[task_id] = response.cancel_requested
        return {
            "found": response.found,
            "status": enum_name(task_pb2.TaskStatus.DESCRIPTOR, response.status) if response.found else None,
            "cancel_requested": response.cancel_requested,
            "lease_expire_time": response.lease_expire_time.ToDatetime(datetime.timezone.utc)
            if response.HasField("lease_expire_time")
            else None,
        }

    async def _run_job(self, handle: JobHandle, job: Job, lease: float) -> Any:
        """Runs the job with heartbeats and a cancel watch, then reports how it ended."""
        runner: asyncio.Task[Any] = asyncio.ensure_future(job(handle))
        superseded: list[errors.AttemptSuperseded] = []

        def stop(reason: Optional[str], error: Optional[errors.AttemptSuperseded] = None) -> None:
            if runner.done():
                return
            if error is not None:
                superseded.append(error)
            else:
                handle.cancel_reason = reason or ""
            runner.cancel(reason if error is None else str(error))

        helpers = [
            asyncio.ensure_future(self._beat(handle, lease, stop)),
            asyncio.ensure_future(self._watch_cancel(handle, stop)),
        ]
        try:
            try:
                value = await asyncio.shield(runner)
            except asyncio.CancelledError:
                # The task was cancelled, another attempt owns it, or our caller cancelled
                # us (then the job stops too): nothing to report.
                if not runner.done():
                    runner.cancel()
                raise
            except errors.AttemptSuperseded:
                raise  # another attempt owns the task now
            except Exception as exc:  # the job failed: the task fails with its message
                await self.fail(
                    handle.id,
                    str(exc) or type(exc).__name__,
                    details={"type": type(exc).__name__, "traceback": traceback.format_exc()},
                    attempt=handle.attempt,
                )
                raise
            if superseded or handle.cancel_reason is not None:
                return value  # the job swallowed its cancellation: the task is not ours to end
            result: Optional[Mapping[str, Any]]
            if value is None or isinstance(value, Mapping):
                result = value
            else:
                result = {"value": value}
            await self.complete(handle.id, result, attempt=handle.attempt)
            return value
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _beat(
        self, handle: JobHandle, lease: float, stop: Callable[..., None]
    ) -> None:
        """Heartbeats every lease / 3 while the job runs; stops it on a cancel or a claim."""
        while True:
            await asyncio.sleep(lease / 3)
            try:
                beat = await self.heartbeat(handle.id, handle.attempt)
            except errors.AttemptSuperseded as error:
                return stop(None, error)
            except errors.TaskControlError as error:  # keep beating: the lease may still be saved
                _log.warning("heartbeat of task %s failed: %s", handle.id, error)
                continue
            if beat["cancel_requested"]:
                task = await self.view(handle.id)
                return stop(task.get("cancel_reason") or "cancelled")

    async def _watch_cancel(self, handle: JobHandle, stop: Callable[..., None]) -> None:
        """Watches the job's task: a cancel is pushed here at once (between heartbeats)."""
        try:
            async for event in self._client.watch(task_ids=[handle.id], include_snapshot=True):
                kind = event.WhichOneof("event")
                task = (
                    event.snapshot.task
                    if kind == "snapshot"
                    else event.status_changed.task
                    if kind == "status_changed"
                    else None
                )
                if task is None:
                    continue
                if task.status == task_pb2.TASK_STATUS_CANCELLED or task.cancel_requested:
                    self._cancel_requested[handle.id] = True
                    return stop(task.cancel_reason or "cancelled")
                if task.attempt > handle.attempt:
                    return stop(None, errors.AttemptSuperseded(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"task {handle.id} was claimed by attempt {task.attempt}",
                        "ATTEMPT_SUPERSEDED",
                        {"current_attempt": str(task.attempt), "attempt": str(handle.attempt)},
                    ))
        except errors.PermissionDenied:
            return  # an older server or a token without WatchTasks: heartbeats still see cancels

    async def update_progress(
        self,
        task_id: str,
        progress: float,
        checkpoint: Optional[Mapping[str, Any]] = None,
        label: Optional[str] = None,
        attempt: int = 0,
    ) -> None:
        """Persists a progress milestone and pushes it to the task owner's watchers.

        ``progress`` is clamped into [0, 1]; ``checkpoint`` and ``label`` replace the
        stored ones when given and are kept otherwise. An unknown task id is ignored (the
        method returns without raising), as is a task that already ended. ``attempt``
        (0: not checked) fences a superseded run: :class:`taskcontrol.AttemptSuperseded`.
        """
        request = pb.UpdateProgressRequest(
            task_id=task_id, progress=progress, checkpoint=to_struct(checkpoint), label=label, attempt=attempt
        )
        response = await self._client._unary(self._stub.UpdateProgress, request)
        if response.found:
            self._cancel_requested[task_id] = response.cancel_requested

    async def emit_progress(
        self,
        task_id: str,
        progress: Optional[float] = None,
        label: Optional[str] = None,
        checkpoint: Optional[Mapping[str, Any]] = None,
        attempt: int = 0,
    ) -> None:
        """Pushes a live progress line to the task owner's watchers without storing it.

        ``progress`` omitted sends the task's stored progress; given, it is clamped into
        [0, 1]. Use it for noisy output (installer lines); an unknown task id is ignored.
        ``attempt`` as in :meth:`update_progress`.
        """
        request = pb.EmitProgressRequest(
            task_id=task_id, progress=progress, label=label, checkpoint=to_struct(checkpoint), attempt=attempt
        )
        response = await self._client._unary(self._stub.EmitProgress, request)
        if response.found:
            self._cancel_requested[task_id] = response.cancel_requested

    async def request_confirmation(
        self,
        task_id: str,
        builder: ui.Builder,
        timeout: Union[None, float, datetime.timedelta] = None,
        request_id: Optional[str] = None,
        attempt: int = 0,
        answerers: Optional[Sequence[str]] = None,
        timeout_action: Optional[str] = None,
    ) -> Decision:
        """Pauses the task at a decision point until its user answers the surface built
        with ``builder``, and returns the :class:`Decision`.

        The task is WAITING_CONFIRMATION meanwhile. ``timeout`` (seconds or a timedelta)
        bounds the wait: past it the decision has ``ok`` False and outcome ``"expired"``;
        a cancelled task gives outcome ``"cancelled"``. ``timeout_action`` (one of the
        buttons' actions; needs a timeout) is taken when the timeout passes: the decision then
        carries that action and that button's value, with ``defaulted`` True. ``answerers``
        (principal names or ``"role:<role>"``) are the only ones who may answer (admins
        always may); empty or None keeps the default (the owner's users, gateways, admins).
        The wait survives dropped
        connections and service restarts: the SDK re-attaches with the same
        ``request_id`` (one is made up if not given). Raises :class:`taskcontrol.TaskNotFound`
        for a missing task, :class:`taskcontrol.FailedPrecondition` for an ended task or one
        already waiting on another confirmation, :class:`taskcontrol.InvalidArgument` for an
        invalid surface.
        """
        if not isinstance(builder, ui.Builder):
            raise TypeError(f"builder must be a taskcontrol.ui.Builder, not {builder!r}")
        request = pb.RequestConfirmationRequest(
            task_id=task_id,
            title=builder.title,
            components=builder.to_proto(),
            request_id=request_id or f"py-{uuid.uuid4().hex}",
            attempt=attempt,
            answerers=list(answerers or ()),
            timeout_action=timeout_action or "",
        )
        if timeout is not None:
            if not isinstance(timeout, datetime.timedelta):
                timeout = datetime.timedelta(seconds=timeout)
            request.timeout.FromTimedelta(timeout)
        backoff = self._client._backoff()
        while True:
            call = self._stub.RequestConfirmation(request, metadata=self._client._metadata)
            try:
                async for response in call:
                    backoff.reset()
                    if response.WhichOneof("event") == "resolved":
                        decision = Decision(response.resolved)
                        self._cancel_requested[task_id] = decision.cancel_requested
                        return decision
                error: errors.TaskControlError = errors.Unavailable(
                    grpc.StatusCode.UNAVAILABLE, "the service ended the call before resolving it"
                )
            except grpc.aio.AioRpcError as rpc_error:
                error = errors.from_rpc_error(rpc_error)
                if rpc_error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise error from rpc_error
            finally:
                call.cancel()
            await backoff.wait(error)

    async def complete(
        self, task_id: str, result: Optional[Mapping[str, Any]] = None, attempt: int = 0
    ) -> dict[str, Any]:
        """Ends the task SUCCEEDED with progress 1 and returns it as a dict. Safe to repeat:
        on a task already SUCCEEDED with the same (or no) result it answers the task."""
        request = pb.CompleteTaskRequest(task_id=task_id, result=to_struct(result), attempt=attempt)
        response = await self._client._unary(self._stub.CompleteTask, request)
        return self._saw_task(response.task)

    async def fail(
        self,
        task_id: str,
        message: str,
        details: Optional[Mapping[str, Any]] = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        """Ends the task FAILED with ``message`` and returns it as a dict. Safe to repeat:
        on a task already FAILED with the same message (and details) it answers the task."""
        request = pb.FailTaskRequest(
            task_id=task_id, error_message=message, details=to_struct(details), attempt=attempt
        )
        response = await self._client._unary(self._stub.FailTask, request)
        return self._saw_task(response.task)

    async def view(self, task_id: str) -> dict[str, Any]:
        """Returns the task as a dict with the contract's field names (the seed's
        ``background_tasks.view``): ``status`` like ``"running"``, ``checkpoint`` a dict,
        times as datetimes. Raises :class:`taskcontrol.TaskNotFound` for an unknown id."""
        response = await self._client._unary(self._stub.GetTask, pb.GetTaskRequest(task_id=task_id))
        return self._saw_task(response.task)

    async def list(
        self, owner: str = "", statuses: Optional[Sequence[str]] = None
    ) -> list[dict[str, Any]]:
        """Returns the tasks of ``owner`` (the caller's own if empty), newest first, as dicts;
        ``statuses`` (e.g. ``["running", "waiting_confirmation"]``) filters them. Reads
        every page."""
        numbers = [
            task_pb2.TaskStatus.Value(f"TASK_STATUS_{status.upper()}") for status in statuses or ()
        ]
        tasks: list[dict[str, Any]] = []
        page_token = ""
        while True:
            request = pb.ListTasksRequest(owner=owner, statuses=numbers, page_token=page_token)
            response = await self._client._unary(self._stub.ListTasks, request)
            tasks.extend(to_dict(task) for task in response.tasks)
            page_token = response.next_page_token
            if not page_token:
                return tasks


class _Connecting:
    """What :func:`connect` returns: await it for a :class:`Client`, or use it in
    ``async with`` to have the client closed at the end."""

    def __init__(
        self,
        address: str,
        token: Optional[str],
        tls: TlsOption,
        retry: RetryPolicy,
        options: Sequence[tuple[str, Any]],
    ) -> None:
        self._address = address
        self._token = token
        self._tls = tls
        self._retry = retry
        self._options = options
        self._client: Optional[Client] = None

    async def _open(self) -> Client:
        # grpc's own reconnect backoff must not outgrow ours, or retries fail fast for long.
        options = [
            ("grpc.initial_reconnect_backoff_ms", int(self._retry.initial_backoff * 1000)),
            ("grpc.min_reconnect_backoff_ms", int(self._retry.initial_backoff * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(self._retry.max_backoff * 1000)),
            *self._options,
        ]
        target, https = parse_address(self._address)
        if https and self._tls is False:
            raise ValueError(f"taskcontrol address {self._address!r} is https:// but tls=False")
        credentials = _credentials(True if https and self._tls is None else self._tls)
        if credentials is None:
            channel = grpc.aio.insecure_channel(target, options=options)
        else:
            channel = grpc.aio.secure_channel(target, credentials, options=options)
        return Client(channel, self._token, self._retry, self._address)

    def __await__(self) -> Generator[Any, None, Client]:
        return self._open().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._open()
        return self._client

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._client is not None:
            await self._client.close()


def connect(
    address: str = "127.0.0.1:50051",
    token: Optional[str] = None,
    tls: TlsOption = None,
    *,
    retry: RetryPolicy = RetryPolicy(),
    options: Sequence[tuple[str, Any]] = (),
) -> _Connecting:
    """Connects to the taskcontrol service at ``address``: ``host:port``, ``http://host:port``
    or ``https://host:port`` (TLS with the system's roots unless ``tls`` says otherwise), the
    forms every taskcontrol client takes; anything else raises ValueError.

    ``token`` is sent as ``authorization: Bearer <token>`` on every call. ``tls`` is None or
    False for plaintext, True for TLS with the system's roots, a CA certificate file path,
    or ready ``grpc.ChannelCredentials``. ``retry`` governs retries while the service is
    unreachable (``RetryPolicy(max_elapsed=…)`` is the give-up time, 60 s by default);
    ``options`` are extra gRPC channel options. The connection is made lazily,
    by the first call. Use ``client = await connect(...)`` or
    ``async with connect(...) as client:``.
    """
    return _Connecting(address, token, tls, retry, options)
