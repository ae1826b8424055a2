"""Validating and queueing a prompt: one path for POST /prompt, POST /atelier/run and --queue-workflow."""

from __future__ import annotations

import uuid
from typing import Any

from core.errors import error
from core.shards import REPORT_SHARD
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
        plan = plan_shards(runtime.registry, runtime.folders, result.prompt, runtime.store.finished_shards,
                           lambda run: runtime.queue.run_in_queue(run)[0])
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
                 outputs: list[str], report_id: str | None, node_errors: dict[str, Any]) -> dict[str, Any]:
    """Queue a prompt for each shard still to run, at the back. When the last shard finishes, the queue adds the
    run's report prompt at the front; it merges the shards' statistics, and its id is the answer's ``prompt_id``
    (so a client waiting for that prompt gets the run's result). Shards already queued or running are not queued
    again, and keep the report they will queue."""
    busy, pending_report = runtime.queue.run_in_queue(plan.run)
    report = pending_report or str(report_id or uuid.uuid4())
    marker = {"run": plan.run, "shards": plan.shards, "node": plan.node_id, "report": report}
    queued, number = [], runtime.queue.peek_number()
    for shard in plan.todo:
        queued.append(str(uuid.uuid4()))
        number = runtime.queue.next_number()
        runtime.queue.put(queued[-1], number, shard_prompt(prompt, plan.node_id, shard),
                          {**extra, SHARD_EXTRA: {**marker, "shard": shard}}, outputs)
    if not plan.todo and not busy:  # every shard finished earlier: only the report is due
        number = -runtime.queue.next_number()
        runtime.queue.put(report, number, shard_prompt(prompt, plan.node_id, REPORT_SHARD),
                          {**extra, SHARD_EXTRA: {**marker, "shard": REPORT_SHARD}}, outputs)
    runtime.events.send("status", runtime.worker.status())
    return {"prompt_id": report, "number": number, "node_errors": node_errors,
            "shards": {"run": plan.run, "count": plan.shards, "node": plan.node_id, "report": report,
                       "queued": queued, "queued_shards": plan.todo, "done_shards": plan.done,
                       "running_shards": sorted(busy)}}


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
