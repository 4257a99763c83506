"""The conformance kit's Python SDK adapter (client mode).

Run by the kit as ``python3 conformance/adapters/python_adapter.py ADDRESS [TOKEN]`` with
clients/python on PYTHONPATH. It reads one JSON request a line on stdin,
``{"id": n, "op": "...", "args": {...}}``, runs the operation on the ``taskcontrol`` SDK and
writes ``{"id": n, "ok": result}`` or ``{"id": n, "error": {...}}`` on stdout. The operations
and their JSON are those of conformance/src/adapter.ts; operations run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
from typing import Any, Callable, Optional

import taskcontrol


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    return {_snake(k): v for k, v in spec.items()}


def _builder(ui: Any, title: str, components: list[dict[str, Any]]) -> Any:
    builder = ui.Builder(title=title)
    for component in components:
        ((kind, spec),) = component.items()
        spec = dict(spec)
        cid = spec.pop("id")
        if kind == "text":
            builder.add(ui.Text(cid, spec["text"]))
        elif kind == "button":
            builder.add(ui.Button(cid, **_kwargs(spec)))
        elif kind == "textInput":
            builder.add(ui.TextInput(cid, **_kwargs(spec)))
        elif kind == "checkbox":
            builder.add(ui.Checkbox(cid, **_kwargs(spec)))
        elif kind == "numberInput":
            builder.add(ui.NumberInput(cid, **_kwargs(spec)))
        else:
            raise ValueError(f"unknown component kind {kind}")
    return builder


def _error(err: BaseException) -> dict[str, Any]:
    if isinstance(err, taskcontrol.TaskControlError):
        return {
            "code": err.code.name.lower(),
            "reason": err.reason,
            "metadata": dict(err.metadata),
            "message": err.details,
            "violations": [v.field for v in err.field_violations],
        }
    return {"code": "adapter_failure", "message": f"{type(err).__name__}: {err}", "metadata": {}, "violations": []}


class Adapter:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.jobs: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # The attempt this worker holds of each task it created or claimed: the id-only calls
        # take it explicitly (the Node SDK keeps it inside its client).
        self.attempts: dict[str, int] = {}
        self.running: set[asyncio.Task[Any]] = set()

    async def create(self, a: dict[str, Any]) -> Any:
        extra = {"lease": a["lease"]} if a.get("lease") else {}
        task_id = await self.client.tasks.run_background(
            owner=a["owner"], label=a.get("label", ""), kind=a.get("kind", ""),
            request_id=a.get("requestId"), **extra,
        )
        self.attempts[task_id] = int((await self.client.tasks.view(task_id)).get("attempt") or 0)
        return {"taskId": task_id}

    async def claim(self, a: dict[str, Any]) -> Any:
        task = await self.client.tasks.claim(a["taskId"], lease=a.get("lease"))
        self.attempts[a["taskId"]] = int(task["attempt"])
        return {"attempt": int(task["attempt"])}

    def _attempt(self, task_id: str) -> int:
        return self.attempts.get(task_id, 0)

    async def updateProgress(self, a: dict[str, Any]) -> Any:
        await self.client.tasks.update_progress(
            a["taskId"], a["progress"], checkpoint=a.get("checkpoint"), label=a.get("label"),
            attempt=self._attempt(a["taskId"]),
        )
        return {}

    async def emitProgress(self, a: dict[str, Any]) -> Any:
        await self.client.tasks.emit_progress(
            a["taskId"], a.get("progress"), label=a.get("label"), checkpoint=a.get("checkpoint"),
            attempt=self._attempt(a["taskId"]),
        )
        return {}

    async def requestConfirmation(self, a: dict[str, Any]) -> Any:
        builder = _builder(self.client.ui, a.get("title", ""), a["components"])
        kwargs: dict[str, Any] = {"attempt": self._attempt(a["taskId"])}
        if "timeoutMs" in a:
            kwargs["timeout"] = a["timeoutMs"] / 1000
        if "requestId" in a:
            kwargs["request_id"] = a["requestId"]
        if "timeoutAction" in a:
            kwargs["timeout_action"] = a["timeoutAction"]
        if "answerers" in a:
            kwargs["answerers"] = a["answerers"]
        call = self.client.tasks.request_confirmation(a["taskId"], builder, **kwargs)
        if "abortAfterMs" in a:
            try:
                decision = await asyncio.wait_for(call, a["abortAfterMs"] / 1000)
            except asyncio.TimeoutError:
                return {"aborted": True}
        else:
            decision = await call
        return {
            "ok": decision["ok"],
            "action": decision["action"],
            "values": dict(decision.inputs),
            "outcome": decision.outcome,
            "answeredBy": getattr(decision, "answered_by", None),
            "defaulted": getattr(decision, "defaulted", None),
        }

    async def complete(self, a: dict[str, Any]) -> Any:
        task = await self.client.tasks.complete(a["taskId"], result=a.get("result"), attempt=self._attempt(a["taskId"]))
        return {"status": task["status"]}

    async def fail(self, a: dict[str, Any]) -> Any:
        task = await self.client.tasks.fail(
            a["taskId"], a["message"], details=a.get("details"), attempt=self._attempt(a["taskId"])
        )
        return {"status": task["status"]}

    async def view(self, a: dict[str, Any]) -> Any:
        task = await self.client.tasks.view(a["taskId"])
        return {
            "progress": task["progress"],
            "label": task["label"],
            "status": task["status"],
            "checkpoint": task.get("checkpoint"),
        }

    async def runBackground(self, a: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[str] = loop.create_future()
        outcome: asyncio.Future[dict[str, Any]] = loop.create_future()

        async def job(task: Any) -> Any:
            if not started.done():
                started.set_result(task.id)
            try:
                if a["job"] == "throw":
                    raise RuntimeError(a.get("message", "job failed"))
                if a["job"] == "wait":
                    await asyncio.Event().wait()
                outcome.set_result({"cancelled": False})
                return a.get("result")
            except asyncio.CancelledError as cancelled:
                reason = str(cancelled.args[0]) if cancelled.args else ""
                outcome.set_result({"cancelled": True, "reason": reason})
                raise
            except Exception:
                if not outcome.done():
                    outcome.set_result({"cancelled": False})
                raise

        extra = {"lease": a["lease"]} if a.get("lease") else {}
        running = asyncio.ensure_future(
            self.client.tasks.run_background(
                job, owner=a["owner"], label=a.get("label", ""), kind=a.get("kind", ""), **extra
            )
        )
        self.running.add(running)
        running.add_done_callback(self.running.discard)
        done, _ = await asyncio.wait({started, running}, return_when=asyncio.FIRST_COMPLETED)
        if started not in done:
            running.result()  # raises what run_background raised
            raise RuntimeError("run_background returned without running the job")
        self.jobs[started.result()] = outcome
        return {"taskId": started.result()}

    async def jobOutcome(self, a: dict[str, Any]) -> Any:
        return await self.jobs[a["taskId"]]

    async def resolveConfirmation(self, a: dict[str, Any]) -> Any:
        c = await self.client.resolve_confirmation(a["confirmationId"], action=a["action"], values=a.get("values"))
        state = c["state"]
        return {"state": state.lower().removeprefix("confirmation_state_") if isinstance(state, str) else state, "action": c["action"]}

    async def cancel(self, a: dict[str, Any]) -> Any:
        task = await self.client.cancel(a["taskId"], reason=a.get("reason"))
        status = task["status"]
        return {"status": status.lower().removeprefix("task_status_") if isinstance(status, str) else status}

    async def reset(self, a: dict[str, Any]) -> Any:
        for task in list(self.running):
            task.cancel()
        self.jobs.clear()
        return {}


async def main() -> None:
    address = sys.argv[1]
    token: Optional[str] = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[Optional[str]] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, default=str) + "\n")
        sys.stdout.flush()

    async with taskcontrol.connect(address, token=token) as client:
        adapter = Adapter(client)
        pending: set[asyncio.Task[None]] = set()

        async def serve(request: dict[str, Any]) -> None:
            op: Optional[Callable[[dict[str, Any]], Any]] = getattr(adapter, request["op"], None)
            try:
                if op is None:
                    raise ValueError(f"unknown operation {request['op']}")
                reply({"id": request["id"], "ok": await op(request.get("args") or {})})
            except BaseException as err:  # noqa: B902 - every failure goes back to the kit
                reply({"id": request["id"], "error": _error(err)})
                if isinstance(err, (KeyboardInterrupt, SystemExit)):
                    raise

        reply({"ready": True})
        while (line := await lines.get()) is not None:
            if line.strip():
                task = asyncio.ensure_future(serve(json.loads(line)))
                pending.add(task)
                task.add_done_callback(pending.discard)
        for task in pending:
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
