"""SDK behaviour the real server cannot provoke on demand, against a scripted in-process
gRPC server: token metadata, TLS, retry of UNAVAILABLE, re-attach and resume requests,
and the UI / dict serialisation."""

from __future__ import annotations

import datetime
from pathlib import Path
import logging
from typing import Any, AsyncIterator, Optional

import grpc
import pytest
from conftest import free_port, run
from google.protobuf.message import Message

import taskcontrol
from taskcontrol.v1 import task_control_service_pb2 as pb
from taskcontrol.v1 import task_control_service_pb2_grpc as pb_grpc
from taskcontrol.v1 import task_pb2

TLS_DIR = Path(__file__).resolve().parent / "tls"
FAST = taskcontrol.RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_elapsed=5.0)

Script = tuple[list[Any], Optional[grpc.StatusCode]]


class FakeService(pb_grpc.TaskControlServiceServicer):
    """Answers from scripts and records every call with its metadata."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Message, dict[str, str]]] = []
        self.unavailable = 0
        self.confirm_scripts: list[Script] = []
        self.watch_scripts: list[Script] = []

    async def _record(self, name: str, request: Message, context: Any) -> None:
        self.calls.append((name, request, dict(context.invocation_metadata())))
        if self.unavailable:
            self.unavailable -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")

    def requests(self, name: str) -> list[Any]:
        return [request for call, request, _ in self.calls if call == name]

    async def CreateTask(self, request: Any, context: Any) -> pb.CreateTaskResponse:
        await self._record("CreateTask", request, context)
        return pb.CreateTaskResponse(task=task_pb2.Task(id="t1", owner=request.owner))

    async def GetTask(self, request: Any, context: Any) -> pb.GetTaskResponse:
        await self._record("GetTask", request, context)
        await context.abort(grpc.StatusCode.NOT_FOUND, "task not found")
        raise AssertionError("unreachable")

    async def UpdateProgress(self, request: Any, context: Any) -> pb.UpdateProgressResponse:
        await self._record("UpdateProgress", request, context)
        return pb.UpdateProgressResponse(
            found=True, applied=True, status=task_pb2.TASK_STATUS_RUNNING, cancel_requested=True
        )

    async def EmitProgress(self, request: Any, context: Any) -> pb.EmitProgressResponse:
        await self._record("EmitProgress", request, context)
        return pb.EmitProgressResponse(found=False)

    async def ResolveConfirmation(
        self, request: Any, context: Any
    ) -> pb.ResolveConfirmationResponse:
        await self._record("ResolveConfirmation", request, context)
        await context.abort(grpc.StatusCode.NOT_FOUND, "confirmation not found")
        raise AssertionError("unreachable")

    async def RequestConfirmation(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.RequestConfirmationResponse]:
        await self._record("RequestConfirmation", request, context)
        events, status = self.confirm_scripts.pop(0)
        for event in events:
            yield event
        if status is not None:
            await context.abort(status, "dropped")

    async def WatchTasks(self, request: Any, context: Any) -> AsyncIterator[pb.WatchTasksResponse]:
        await self._record("WatchTasks", request, context)
        events, status = self.watch_scripts.pop(0)
        for event in events:
            yield event
        if status is not None:
            await context.abort(status, "dropped")


async def _serve(service: FakeService, tls: bool = False) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_TaskControlServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    if tls:
        credentials = grpc.ssl_server_credentials(
            [((TLS_DIR / "localhost.key").read_bytes(), (TLS_DIR / "localhost.crt").read_bytes())]
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def _pending() -> pb.RequestConfirmationResponse:
    return pb.RequestConfirmationResponse(
        pending=pb.RequestConfirmationResponse.Pending(
            confirmation=task_pb2.Confirmation(id="c1", state=task_pb2.CONFIRMATION_STATE_PENDING)
        )
    )


def _resolved() -> pb.RequestConfirmationResponse:
    resolved = pb.RequestConfirmationResponse.Resolved(
        confirmation_id="c1",
        outcome=task_pb2.CONFIRMATION_STATE_ANSWERED,
        action="go",
    )
    resolved.values.update({"name": "x", "ok": "shadowed"})
    return pb.RequestConfirmationResponse(resolved=resolved)


def _watch_event(sequence: int, kind: str) -> pb.WatchTasksResponse:
    event = pb.WatchTasksResponse(sequence=sequence)
    if kind == "snapshot":
        event.snapshot.task.id = f"s{sequence}"
    else:
        getattr(event, kind).SetInParent()
    return event


def test_token_is_sent_as_bearer_metadata_on_every_call() -> None:
    async def scenario() -> None:
        service = FakeService()
        service.confirm_scripts.append(([_pending(), _resolved()], None))
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, token="s3cret", retry=FAST) as client:
                await client.tasks.run_background(owner="alice", label="l", kind="k")
                await client.tasks.update_progress("t1", 0.5)
                await client.tasks.request_confirmation(
                    "t1", client.ui.Builder().add(client.ui.Button("b", label="B", action="go"))
                )
        finally:
            await server.stop(None)
        assert [call for call, _, _ in service.calls] == [
            "CreateTask",
            "UpdateProgress",
            "RequestConfirmation",
        ]
        assert {meta.get("authorization") for _, _, meta in service.calls} == {"Bearer s3cret"}

    run(scenario())


def test_no_token_sends_no_authorization() -> None:
    async def scenario() -> None:
        service = FakeService()
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                await client.tasks.emit_progress("t1", label="line")
        finally:
            await server.stop(None)
        assert "authorization" not in service.calls[0][2]

    run(scenario())


def test_tls_with_a_ca_file_path() -> None:
    async def scenario() -> None:
        service = FakeService()
        server, address = await _serve(service, tls=True)
        try:
            client = await taskcontrol.connect(
                address, token="t", tls=str(TLS_DIR / "localhost.crt"), retry=FAST
            )
            with pytest.raises(taskcontrol.TaskNotFound):
                await client.tasks.view("nope")
            await client.close()
            credentials = grpc.ssl_channel_credentials(
                root_certificates=(TLS_DIR / "localhost.crt").read_bytes()
            )
            async with taskcontrol.connect(address, tls=credentials, retry=FAST) as client:
                with pytest.raises(taskcontrol.TaskNotFound):
                    await client.tasks.view("nope")
        finally:
            await server.stop(None)
        assert service.calls[0][2]["authorization"] == "Bearer t"
        assert len(service.calls) == 2

    run(scenario())


def test_tls_rejects_other_types() -> None:
    async def scenario() -> None:
        with pytest.raises(TypeError):
            await taskcontrol.connect("127.0.0.1:1", tls=42)

    run(scenario())


def test_unary_calls_retry_unavailable_with_backoff() -> None:
    async def scenario() -> None:
        service = FakeService()
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                service.unavailable = 3
                await client.tasks.update_progress("t1", 0.5, label="again")
                assert client.tasks.cancel_requested("t1") is True
                service.unavailable = 3
                task_id = await client.tasks.run_background(owner="alice")
        finally:
            await server.stop(None)
        assert len(service.requests("UpdateProgress")) == 4
        creates = service.requests("CreateTask")
        assert len(creates) == 4
        assert task_id == "t1"
        # The made-up request_id is the same on every attempt: no second task.
        assert len({request.request_id for request in creates}) == 1
        assert creates[0].request_id.startswith("py-")

    run(scenario())


def test_unavailable_for_too_long_raises_unavailable() -> None:
    async def scenario() -> None:
        policy = taskcontrol.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_elapsed=0.2)
        async with taskcontrol.connect(f"127.0.0.1:{free_port()}", retry=policy) as client:
            with pytest.raises(taskcontrol.Unavailable) as caught:
                await client.tasks.update_progress("t1", 0.5)
        assert isinstance(caught.value, taskcontrol.TaskControlError)
        assert isinstance(caught.value, RuntimeError)
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE

    run(scenario())


def test_every_address_form_reaches_the_server() -> None:
    async def scenario() -> None:
        service = FakeService()
        server, address = await _serve(service)
        try:
            for form in (address, f"http://{address}", f"http://{address}/", f"HTTP://{address}"):
                async with taskcontrol.connect(form, retry=FAST) as client:
                    await client.tasks.update_progress("t1", 0.5)
        finally:
            await server.stop(None)
        assert len(service.requests("UpdateProgress")) == 4

    run(scenario(), timeout=20)


def test_https_address_means_tls() -> None:
    async def scenario() -> None:
        service = FakeService()
        server, address = await _serve(service, tls=True)
        try:
            host_port = address.replace("127.0.0.1", "localhost")
            ca = str(TLS_DIR / "localhost.crt")
            async with taskcontrol.connect(f"https://{host_port}", tls=ca, retry=FAST) as client:
                await client.tasks.update_progress("t1", 0.5)
            with pytest.raises(ValueError, match="https:// but tls=False"):
                await taskcontrol.connect(f"https://{host_port}", tls=False)
        finally:
            await server.stop(None)

    run(scenario(), timeout=20)


@pytest.mark.parametrize(
    "bad", ["127.0.0.1", "ftp://127.0.0.1:1", "http://127.0.0.1:1/api", "127.0.0.1:99999", ""]
)
def test_a_bad_address_is_a_value_error_saying_the_forms(bad: str) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="host:port, http://host:port or https://host:port|0 to 65535"):
            await taskcontrol.connect(bad)

    run(scenario(), timeout=10)


def test_an_absent_server_is_one_warning_naming_the_address_then_debug_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    policy = taskcontrol.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_elapsed=0.3)

    async def scenario() -> None:
        async with taskcontrol.connect(f"http://{address}", retry=policy) as client:
            with pytest.raises(taskcontrol.Unavailable) as caught:
                await client.tasks.update_progress("t1", 0.5)
            assert address in str(caught.value) and "RetryPolicy.max_elapsed" in str(caught.value)
            # A second call in the same outage does not warn again.
            with pytest.raises(taskcontrol.Unavailable):
                await client.tasks.update_progress("t1", 0.6)

    with caplog.at_level(logging.DEBUG, logger="taskcontrol"):
        run(scenario(), timeout=20)
    mine = [r for r in caplog.records if r.name == "taskcontrol"]
    warnings = [r for r in mine if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in mine]
    assert address in warnings[0].getMessage()
    assert "retrying for up to 0.3 s" in warnings[0].getMessage()
    retries = [r for r in mine if r.levelno == logging.DEBUG and "retry" in r.getMessage()]
    assert len(retries) >= 2 and all(address in r.getMessage() for r in retries)


def test_request_confirmation_reattaches_with_the_same_request_id() -> None:
    async def scenario() -> None:
        service = FakeService()
        service.confirm_scripts.append(([_pending()], grpc.StatusCode.UNAVAILABLE))
        service.confirm_scripts.append(([], grpc.StatusCode.UNAVAILABLE))
        service.confirm_scripts.append(([_pending(), _resolved()], None))
        service.confirm_scripts.append(([_pending(), _resolved()], None))
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                builder = client.ui.Builder(title="Go?").add(
                    client.ui.Button("b", label="B", action="go")
                )
                decision = await client.tasks.request_confirmation(
                    "t1", builder, timeout=datetime.timedelta(minutes=2)
                )
                second = await client.tasks.request_confirmation(
                    "t1", builder, timeout=1.5, request_id="mine"
                )
        finally:
            await server.stop(None)
        assert decision == {"ok": True, "action": "go", "name": "x"}
        assert decision.inputs == {"name": "x", "ok": "shadowed"}
        assert decision.outcome == "answered"
        assert decision.confirmation_id == "c1"
        assert decision.cancel_requested is False
        requests = service.requests("RequestConfirmation")
        assert len(requests) == 4
        assert len({r.request_id for r in requests[:3]}) == 1
        assert requests[0].request_id.startswith("py-")
        assert requests[0].title == "Go?"
        assert requests[0].timeout.ToTimedelta() == datetime.timedelta(minutes=2)
        assert requests[3].request_id == "mine"
        assert requests[3].timeout.ToTimedelta() == datetime.timedelta(seconds=1.5)
        assert second["ok"] is True

    run(scenario())


def test_request_confirmation_does_not_retry_other_errors() -> None:
    async def scenario() -> None:
        service = FakeService()
        service.confirm_scripts.append(([], grpc.StatusCode.NOT_FOUND))
        service.confirm_scripts.append(([], grpc.StatusCode.FAILED_PRECONDITION))
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                builder = client.ui.Builder().add(client.ui.Button("b", label="B", action="go"))
                with pytest.raises(taskcontrol.TaskNotFound):
                    await client.tasks.request_confirmation("t1", builder)
                with pytest.raises(taskcontrol.FailedPrecondition):
                    await client.tasks.request_confirmation("t1", builder)
                with pytest.raises(TypeError):
                    await client.tasks.request_confirmation("t1", [])  # type: ignore[arg-type]
        finally:
            await server.stop(None)
        assert len(service.requests("RequestConfirmation")) == 2

    run(scenario())


def test_watch_resumes_after_the_last_sequence() -> None:
    async def scenario() -> list[pb.WatchTasksResponse]:
        service = FakeService()
        service.watch_scripts += [
            # Dropped during the snapshot: the snapshot is asked for again.
            ([_watch_event(7, "snapshot")], grpc.StatusCode.UNAVAILABLE),
            (
                [_watch_event(7, "snapshot"), _watch_event(7, "snapshot_end")],
                grpc.StatusCode.UNAVAILABLE,
            ),
            # Dropped after it: resume after snapshot_end's sequence, then after the last seen.
            ([_watch_event(8, "task_created"), _watch_event(8, "progress")], None),
            ([_watch_event(9, "bookmark")], grpc.StatusCode.RESOURCE_EXHAUSTED),
            ([_watch_event(10, "status_changed")], grpc.StatusCode.OUT_OF_RANGE),
        ]
        server, address = await _serve(service)
        seen: list[pb.WatchTasksResponse] = []
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                with pytest.raises(taskcontrol.SequenceOutOfRange):
                    async for event in client.watch(
                        owner="alice", task_ids=["a", "b"], include_snapshot=True
                    ):
                        seen.append(event)
        finally:
            await server.stop(None)
        requests = service.requests("WatchTasks")
        assert [(r.include_snapshot, r.HasField("after_sequence")) for r in requests[:2]] == [
            (True, False),
            (True, False),
        ]
        assert [(r.include_snapshot, r.after_sequence) for r in requests[2:]] == [
            (False, 7),
            (False, 8),
            (False, 9),
        ]
        assert all(r.owner == "alice" and list(r.task_ids) == ["a", "b"] for r in requests)
        return seen

    seen = run(scenario())
    assert [e.WhichOneof("event") for e in seen] == [
        "snapshot",
        "snapshot",
        "snapshot_end",
        "task_created",
        "progress",
        "bookmark",
        "status_changed",
    ]


def test_watch_from_a_given_sequence_and_gateway_errors() -> None:
    async def scenario() -> None:
        service = FakeService()
        service.watch_scripts.append(([_watch_event(5, "progress")], grpc.StatusCode.INTERNAL))
        server, address = await _serve(service)
        try:
            async with taskcontrol.connect(address, retry=FAST) as client:
                with pytest.raises(taskcontrol.TaskControlError) as caught:
                    async for _ in client.watch(after_sequence=4):
                        pass
                assert caught.value.code == grpc.StatusCode.INTERNAL
                with pytest.raises(taskcontrol.ConfirmationNotFound):
                    await client.resolve_confirmation("c9", action="go", values={"a": True})
        finally:
            await server.stop(None)
        assert service.requests("WatchTasks")[0].after_sequence == 4
        resolve = service.requests("ResolveConfirmation")[0]
        assert (resolve.confirmation_id, resolve.action, dict(resolve.values)) == (
            "c9",
            "go",
            {"a": True},
        )

    run(scenario())


def test_builder_serialises_every_component() -> None:
    ui = taskcontrol.ui
    builder = ui.Builder(title="Pick")
    assert builder.add(ui.Text("t", "Hello")) is builder
    builder.add(
        ui.Button("b1", label="Go", action="go", style="primary", value={"go": True}),
        ui.Button("b2", label="Stop", action="stop"),
        ui.TextInput(
            "name",
            label="Name",
            placeholder="you",
            default_value="x",
            required=True,
            max_length=8,
            pattern="[a-z]+",
            pattern_description="letters",
        ),
        ui.Select("size", label="Size", options=["s", ui.Option("m", "Medium")], default_value="s"),
        ui.Select("tags", options=["a", "b"], multiple=True, required=True),
        ui.Checkbox("sure", label="Sure?", default_value=True),
        ui.NumberInput("n", label="N", min=1, max=9, step=2, required=True, default_value=3),
        ui.NumberInput("free"),
    )
    components = [taskcontrol.to_dict(c) for c in builder.to_proto()]
    assert components == [
        {"id": "t", "text": {"text": "Hello"}},
        {
            "id": "b1",
            "button": {"label": "Go", "action": "go", "style": "primary", "value": {"go": True}},
        },
        {
            "id": "b2",
            "button": {"label": "Stop", "action": "stop", "style": "unspecified", "value": None},
        },
        {
            "id": "name",
            "text_input": {
                "label": "Name",
                "placeholder": "you",
                "default_value": "x",
                "required": True,
                "max_length": 8,
                "pattern": "[a-z]+",
                "pattern_description": "letters",
            },
        },
        {
            "id": "size",
            "select": {
                "label": "Size",
                "options": [{"value": "s", "label": ""}, {"value": "m", "label": "Medium"}],
                "default_value": "s",
                "multiple": False,
                "required": False,
            },
        },
        {
            "id": "tags",
            "select": {
                "label": "",
                "options": [{"value": "a", "label": ""}, {"value": "b", "label": ""}],
                "default_value": "",
                "multiple": True,
                "required": True,
            },
        },
        {"id": "sure", "checkbox": {"label": "Sure?", "default_value": True}},
        {
            "id": "n",
            "number_input": {
                "label": "N",
                "min": 1.0,
                "max": 9.0,
                "step": 2.0,
                "required": True,
                "default_value": 3.0,
            },
        },
        {
            "id": "free",
            "number_input": {
                "label": "",
                "min": None,
                "max": None,
                "step": None,
                "required": False,
                "default_value": None,
            },
        },
    ]
    with pytest.raises(ValueError):
        ui.Button("b", label="x", action="y", style="loud").to_proto()
    with pytest.raises(TypeError):
        builder.add("not a component")  # type: ignore[arg-type]


def test_to_dict_uses_contract_names_and_python_types() -> None:
    task = task_pb2.Task(
        id="t1",
        status=task_pb2.TASK_STATUS_WAITING_CONFIRMATION,
        progress=0.5,
        revision=3,
        pending_confirmation=task_pb2.Confirmation(
            id="c1", state=task_pb2.CONFIRMATION_STATE_PENDING
        ),
    )
    task.checkpoint.update({"phase": "download", "n": 2})
    task.create_time.FromSeconds(1_700_000_000)
    view = taskcontrol.to_dict(task)
    assert view["status"] == "waiting_confirmation"
    assert view["checkpoint"] == {"phase": "download", "n": 2}
    assert view["revision"] == 3 and isinstance(view["revision"], int)
    assert view["create_time"] == datetime.datetime.fromtimestamp(
        1_700_000_000, tz=datetime.timezone.utc
    )
    assert view["end_time"] is None and view["result"] is None
    assert view["pending_confirmation"]["state"] == "pending"
    assert view["pending_confirmation"]["components"] == []
    assert set(view) == {field.name for field in task_pb2.Task.DESCRIPTOR.fields}
    emit = taskcontrol.to_dict(pb.EmitProgressRequest(task_id="t1", label="line"))
    assert emit == {"task_id": "t1", "progress": None, "label": "line", "checkpoint": None, "attempt": 0}
