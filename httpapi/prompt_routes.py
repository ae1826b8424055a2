"""Prompts, queue, history, interrupt and node information."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from compat.server_view import trigger_on_prompt
from core.errors import error
from execution.workflows import NODE_SOURCES, WorkflowError, is_ui_workflow
from execution.workflows.upgrade import upgrade_workflow
from httpapi.bodies import read_object
from httpapi.submit import convert, submit_prompt, submit_workflow
from runtime import Runtime


def bad_request(problem: dict[str, Any], node_errors: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error": problem, "node_errors": node_errors or {}}, status=400)


def looks_like_ui_workflow(prompt: Any) -> bool:
    return isinstance(prompt, dict) and "nodes" in prompt and "links" in prompt


# The fields each route reads, with ComfyUI's types; null means absent.
PROMPT_FIELDS = {"prompt": dict, "extra_data": dict, "client_id": str, "prompt_id": str, "number": float,
                 "front": bool, "partial_execution_targets": list[str]}
RUN_FIELDS = {"workflow": dict, "client_id": str}
CONVERT_FIELDS = {"workflow": dict}
CLEAR_OR_DELETE_FIELDS = {"clear": bool, "delete": list[str]}
INTERRUPT_FIELDS = {"prompt_id": str}
FREE_FIELDS = {"unload_models": bool, "free_memory": bool}


def routes(runtime: Runtime) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": runtime.queue.remaining()}})

    @table.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        body = trigger_on_prompt(runtime, await read_object(request, PROMPT_FIELDS))  # plug-ins' handlers
        if "prompt" not in body:
            return bad_request(error("no_prompt", "No prompt provided", "No prompt provided"))
        prompt = body["prompt"]
        if looks_like_ui_workflow(prompt):
            return bad_request(error(
                "invalid_prompt", "This is a UI-format workflow, not an API-format prompt",
                "Send the API format (the editor's 'Export (API)'), or POST the workflow to /atelier/run."))
        status, answer = submit_prompt(
            runtime, prompt, body.get("extra_data"), body.get("client_id"), body.get("prompt_id"),
            body.get("number"), bool(body.get("front")), body.get("partial_execution_targets"))
        return web.json_response(answer, status=status)

    @table.post("/atelier/run")
    async def run_workflow(request: web.Request) -> web.Response:
        """Queue a UI-format workflow as saved by an editor (ComfyUI's server needs the browser for that)."""
        body = await read_object(request, RUN_FIELDS)
        status, answer = submit_workflow(runtime, body.get("workflow", body), body.get("client_id"))
        return web.json_response(answer, status=status)

    @table.post("/atelier/convert")
    async def convert_workflow(request: web.Request) -> web.Response:
        """A UI-format workflow as the API prompt it queues, with warnings (e.g. widgets an older file lacked)."""
        body = await read_object(request, CONVERT_FIELDS)
        status, answer = convert(runtime, body.get("workflow", body))
        return web.json_response(answer, status=status)

    @table.post("/atelier/upgrade_workflow")
    async def upgrade(request: web.Request) -> web.Response:
        """The workflow with its legacy group nodes as subgraphs (``changes`` says which), for editors that open
        them as subgraphs; the prompt it converts to is the one the group nodes gave."""
        workflow = (await read_object(request, CONVERT_FIELDS)).get("workflow")
        if not is_ui_workflow(workflow):
            return bad_request(error("invalid_workflow", "Not a UI-format workflow", "Expected nodes and links."))
        try:
            upgraded = upgrade_workflow(workflow, runtime.registry.object_info(runtime.folders))
        except WorkflowError as problem:
            return bad_request(error("invalid_workflow", "The workflow's group nodes cannot be read", str(problem)))
        return web.json_response({"workflow": upgraded.workflow, "changes": upgraded.changes})

    @table.get("/atelier/node_sources")
    async def node_sources(request: web.Request) -> web.Response:
        """Which plug-in usually provides a well-known node type, for the editor's placeholders."""
        return web.json_response(NODE_SOURCES)

    @table.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running, pending = runtime.queue.snapshot()
        return web.json_response({"queue_running": running, "queue_pending": pending,
                                  "running_on": runtime.queue.running_on()})  # Atelier's: prompt id -> worker

    @table.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        body = await read_object(request, CLEAR_OR_DELETE_FIELDS)
        if body.get("clear"):
            runtime.queue.clear()
        if "delete" in body:
            runtime.queue.delete([str(item) for item in body["delete"]])
        runtime.events.send("status", runtime.worker.status())
        return web.Response(status=200)

    @table.post("/interrupt")
    async def interrupt(request: web.Request) -> web.Response:
        runtime.worker.interrupt((await read_object(request, INTERRUPT_FIELDS)).get("prompt_id"))
        return web.Response(status=200)

    @table.get("/atelier/workers")
    async def workers(request: web.Request) -> web.Response:
        """Where prompts run: each worker (this process, a worker process or a Ray actor) and its prompt now."""
        return web.json_response({"workers": runtime.worker.describe()})

    @table.post("/free")
    async def free(request: web.Request) -> web.Response:
        body = await read_object(request, FREE_FIELDS)
        runtime.request_free(bool(body.get("unload_models")), bool(body.get("free_memory")))
        return web.Response(status=200)

    @table.get("/history")
    async def get_history(request: web.Request) -> web.Response:
        max_items = _int_param(request, "max_items")
        offset = _int_param(request, "offset")
        return web.json_response(runtime.store.history(max_items, -1 if offset is None else offset))

    @table.get("/history/{prompt_id}")
    async def get_history_entry(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = runtime.store.history_entry(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    @table.post("/history")
    async def post_history(request: web.Request) -> web.Response:
        body = await read_object(request, CLEAR_OR_DELETE_FIELDS)
        if body.get("clear"):
            runtime.store.clear_history()
        if "delete" in body:
            runtime.store.delete_history([str(item) for item in body["delete"]])
        return web.Response(status=200)

    @table.get("/object_info")
    async def object_info(request: web.Request) -> web.Response:
        return web.json_response(runtime.registry.object_info(runtime.folders))

    @table.get("/object_info/{node_class}")
    async def object_info_one(request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        runtime.registry.refresh_inputs([name])
        definition = runtime.registry.get(name)
        return web.json_response({definition.name: definition.object_info(runtime.folders)} if definition else {})

    return table


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from exc
