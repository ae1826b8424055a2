"""Validating and queueing a prompt: one path for POST /prompt, POST /atelier/run and --queue-workflow."""

from __future__ import annotations

import uuid
from typing import Any

from core.errors import error
from execution.queue import SHARD_EXTRA
from execution.shards import ShardingError, ShardPlan, plan_shards, shard_prompt
from execution.validation import validate_prompt
from execution.workflows import WorkflowError, convert_workflow, is_ui_workflow, missing_node_errors
from runtime import Runtime


def submit_prompt(runtime: Runtime, prompt: Any, extra_data: dict[str, Any] | None = None,
                  client_id: str | None = None, prompt_id: str | None = None, number: float | None = None,
                  front: bool = False, targets: list[str] | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) in ComfyUI's shapes: 200 ``{prompt_id, number, node_errors}`` or 400."""
    result = validate_prompt(runtime.registry, runtime.folders, prompt, targets)
    if not result.ok:
        return 400, {"error": result.error, "node_errors": result.node_errors}
    try:
        plan = plan_shards(runtime.registry, runtime.folders, result.prompt, runtime.store.finished_shards)
    except ShardingError as problem:
        return 400, {"error": error("invalid_prompt", "The dataset run cannot be split", str(problem)),
                     "node_errors": {}}
    extra = dict(extra_data or {})
    if client_id:
        extra["client_id"] = client_id
    if plan is not None:
        return 200, queue_shards(runtime, plan, result.prompt, extra, result.good_outputs, prompt_id,
                                 result.node_errors)
    prompt_id = str(prompt_id or uuid.uuid4())
    number = float(number) if number is not None else runtime.queue.next_number()
    if front:
        number = -abs(number)
    runtime.queue.put(prompt_id, number, result.prompt, extra, result.good_outputs)
    runtime.events.send("status", runtime.worker.status())
    number_out = int(number) if float(number).is_integer() else number
    return 200, {"prompt_id": prompt_id, "number": number_out, "node_errors": result.node_errors}


def queue_shards(runtime: Runtime, plan: ShardPlan, prompt: dict[str, Any], extra: dict[str, Any],
                 outputs: list[str], last_id: str | None, node_errors: dict[str, Any]) -> dict[str, Any]:
    """Queue one prompt per shard still to run, at the back; the answer's ``prompt_id`` is the last shard's (the
    one a single worker finishes last), ``shards`` lists them all."""
    ids = [str(uuid.uuid4()) for _ in plan.todo[:-1]] + [str(last_id or uuid.uuid4())]
    number = 0
    for shard, shard_id in zip(plan.todo, ids, strict=True):
        number = runtime.queue.next_number()
        shard_extra = {**extra, SHARD_EXTRA: {"run": plan.run, "shard": shard, "shards": plan.shards}}
        runtime.queue.put(shard_id, number, shard_prompt(prompt, plan.node_id, shard), shard_extra, outputs)
    runtime.events.send("status", runtime.worker.status())
    return {"prompt_id": ids[-1], "number": number, "node_errors": node_errors,
            "shards": {"run": plan.run, "count": plan.shards, "node": plan.node_id, "queued": ids,
                       "queued_shards": plan.todo, "done_shards": plan.done}}


def convert(runtime: Runtime, workflow: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for converting a UI-format workflow: 200 ``{prompt, warnings}``, or 400 in ComfyUI's
    error shape when its structure cannot be read or a node type is missing (naming the plug-in that usually
    provides it)."""
    if not is_ui_workflow(workflow):
        return 400, {"error": error("invalid_workflow", "Not a UI-format workflow",
                                    "Expected an object with nodes and links."), "node_errors": {}}
    object_info = runtime.registry.object_info(runtime.folders)
    try:
        conversion = convert_workflow(workflow, object_info)
    except WorkflowError as problem:
        return 400, {"error": error("invalid_workflow", "The workflow's structure cannot be read", str(problem)),
                     "node_errors": {}}
    missing = missing_node_errors(conversion.prompt, object_info)
    if missing:
        first = next(iter(missing.values()))["errors"][0]
        return 400, {"error": error("missing_node_type", first["message"], first["details"], **first["extra_info"]),
                     "node_errors": missing, "warnings": conversion.warnings}
    return 200, {"prompt": conversion.prompt, "warnings": conversion.warnings}


def submit_workflow(runtime: Runtime, workflow: Any, client_id: str | None = None) -> tuple[int, dict[str, Any]]:
    """Run a UI-format workflow (or an API prompt) as is; the workflow is embedded in saved PNGs."""
    if is_ui_workflow(workflow):
        status, answer = convert(runtime, workflow)
        if status != 200:
            return status, answer
        return submit_prompt(runtime, answer["prompt"], {"extra_pnginfo": {"workflow": workflow}}, client_id)
    if isinstance(workflow, dict) and workflow:
        return submit_prompt(runtime, workflow, None, client_id)
    return 400, {"error": error("invalid_workflow", "Not a workflow",
                                "Expected a UI-format workflow (nodes, links) or an API-format prompt."),
                 "node_errors": {}}
