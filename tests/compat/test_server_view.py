"""``server.PromptServer`` as a view of a bound runtime: one per runtime, messages through its EventHub, the client
of the running prompt, on-prompt handlers, and what packs do to ``.app`` before the application exists."""

from __future__ import annotations

import struct

import pytest
from aiohttp import web

from core.context import ExecutionContext, enter_context, leave_context
from tests.compat.conftest import bound_runtime


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.previews: list[tuple] = []

    def on_event(self, event, data, client_id) -> None:
        self.events.append((event, data, client_id))

    def on_preview(self, image, client_id, prompt_id, node_id) -> None:
        self.previews.append((image.size, client_id, prompt_id, node_id))


@pytest.fixture
def recorded(comfy_runtime) -> Recorder:
    recorder = Recorder()
    comfy_runtime.events.subscribe(recorder)
    return recorder


def running(runtime, prompt_id: str, node_id: str) -> object:
    return enter_context(ExecutionContext(prompt_id, node_id, runtime.folders, runtime.models, runtime.devices))


def test_one_prompt_server_per_runtime(tmp_path, comfy_runtime):
    from server import BinaryEventTypes, PromptServer

    server = PromptServer.instance
    assert PromptServer.instance is server and isinstance(server.routes, web.RouteTableDef)
    assert "custom_nodes_from_web" in server.supports
    assert (BinaryEventTypes.PREVIEW_IMAGE, BinaryEventTypes.TEXT, BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA) == \
        (1, 3, 4)
    other = bound_runtime(tmp_path / "other")
    try:
        assert PromptServer.instance is not server
    finally:
        other.close()


def test_messages_go_to_the_runtimes_events(comfy_runtime, recorded):
    from PIL import Image

    from server import BinaryEventTypes, PromptServer

    server = PromptServer.instance
    server.send_sync("pack.event", {"a": 1}, "client-1")
    server.send_sync("pack.broadcast", {"b": 2})
    assert recorded.events == [("pack.event", {"a": 1}, "client-1"), ("pack.broadcast", {"b": 2}, None)]
    token = running(comfy_runtime, "p1", "12")
    try:
        server.send_progress_text("half way", "12", "client-1")
        server.send_sync(BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, ("JPEG", Image.new("RGB", (64, 32)), 16),
                         "client-1")
    finally:
        leave_context(token)
    event, frame, client = recorded.events[-1]
    assert (event, client) == (BinaryEventTypes.TEXT, "client-1")
    assert frame == struct.pack(">I", 2) + b"12" + b"half way"
    assert recorded.previews == [((16, 8), "client-1", "p1", "12")]


def test_client_id_is_the_running_prompts_client(comfy_runtime):
    from server import PromptServer

    server = PromptServer.instance
    assert server.client_id is None
    comfy_runtime.events.send("execution_start", {"prompt_id": "p1"}, "client-1")
    comfy_runtime.events.send("executing", {"node": "4", "prompt_id": "p1"}, "client-1")
    assert (server.client_id, server.last_node_id) == ("client-1", "4")
    token = running(comfy_runtime, "p1", "5")
    try:
        assert (server.client_id, server.last_node_id) == ("client-1", "5")
    finally:
        leave_context(token)
    token = running(comfy_runtime, "p2", "1")  # a prompt queued without a client sends no execution_start
    try:
        assert server.client_id is None
    finally:
        leave_context(token)


def test_on_prompt_handlers_run_in_order_and_a_failing_one_is_skipped(comfy_runtime):
    from compat.server_view import trigger_on_prompt
    from server import PromptServer

    assert trigger_on_prompt(comfy_runtime, {"prompt": {}}) == {"prompt": {}}
    server = PromptServer.instance
    server.add_on_prompt_handler(lambda body: {**body, "seen": 1})
    server.add_on_prompt_handler(lambda body: 1 / 0)
    server.add_on_prompt_handler(lambda body: {**body, "seen": body["seen"] + 1})
    assert trigger_on_prompt(comfy_runtime, {"prompt": {}}) == {"prompt": {}, "seen": 2}


def test_app_calls_before_the_application_exists_are_replayed(tmp_path, comfy_runtime):
    from httpapi.hub import WebSocketHub
    from server import PromptServer

    server = PromptServer.instance

    async def hello(request):
        return web.Response(text="hi")

    @web.middleware
    async def stamp(request, handler):
        return await handler(request)

    (tmp_path / "static").mkdir()
    server.routes.get("/pack/hello")(hello)
    assert not server.app.router.frozen
    server.app.add_routes([web.static("/pack/files", tmp_path / "static")])
    server.app.router.add_get("/pack/direct", hello)
    server.app.middlewares.append(stamp)
    app = web.Application()
    server.mount(app, WebSocketHub())
    paths = {resource.canonical for resource in app.router.resources()}
    assert {"/pack/hello", "/api/pack/hello", "/pack/files", "/pack/direct"} <= paths
    assert "/api/pack/files" not in paths
    assert stamp in app.middlewares and server.app is app


def test_queue_and_user_manager_stand_ins(comfy_runtime):
    from server import PromptServer

    server = PromptServer.instance
    assert server.number == 0
    assert comfy_runtime.queue.next_number() == 0 and server.number == 1
    assert server.prompt_queue.get_current_queue() == ([], [])
    assert server.prompt_queue.get_tasks_remaining() == 0
    assert server.prompt_queue.get_history() == {}
    server.prompt_queue.set_flag("unload_models", True)
    assert comfy_runtime.worker.slots[0].free_request.unload_models
    path = server.user_manager.get_request_user_filepath(None, "pack/settings.json")
    assert path == str(comfy_runtime.user_root().resolve() / "pack" / "settings.json")
    assert server.user_manager.get_request_user_filepath(None, "../escape.json") is None
