"""A worker that asks its user before it replaces a model that is already installed."""

from __future__ import annotations

import taskcontrol


async def install_model(client: taskcontrol.Client, owner: str, model_id: str) -> str:
    """Installs ``model_id`` for ``owner``; returns "replaced" or "kept"."""
    task_id = await client.tasks.run_background(
        owner=owner, label=f"Installing {model_id}", kind="model.install"
    )
    await client.tasks.update_progress(
        task_id,
        0.55,
        checkpoint={"phase": "conflict_detected"},
        label="Conflict detected, waiting for confirmation",
    )
    builder = client.ui.Builder(title="Model already installed")
    builder.add(client.ui.Text("confirm_text", f"{model_id} already exists. Replace it?"))
    builder.add(client.ui.Button("confirm_replace", label="Replace", action="replace"))
    builder.add(client.ui.Button("confirm_cancel", label="Cancel", action="cancel"))
    decision = await client.tasks.request_confirmation(task_id, builder)
    replace = decision["ok"] and decision["action"] == "replace"
    if replace:
        await client.tasks.update_progress(task_id, 0.65, label="Replacing existing artifact")
    await client.tasks.complete(task_id, result={"replaced": replace})
    return "replaced" if replace else "kept"
