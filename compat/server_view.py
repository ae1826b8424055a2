"""ComfyUI's ``server`` module names (``PromptServer``, ``BinaryEventTypes``), answered by Atelier's ``server.py``.

``PromptServer.instance`` is one object per bound runtime (kept in ``compat.host.host().extras``), made when a
plug-in first asks for it, which is while plug-ins import and before Atelier's aiohttp application exists. So its
``routes`` table is mounted by ``httpapi.app.create_app`` (as declared and under ``/api``, as ComfyUI mounts its
routes), and what packs do to ``.app`` at import (``add_routes``, ``router.add_static``, ``middlewares.append``)
is recorded and replayed there (``mount``). Messages go to the runtime's ``EventHub``, so they reach websocket
clients exactly as Atelier's own events do.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

import compat.host
from core.context import current_context

if TYPE_CHECKING:
    from httpapi.hub import WebSocketHub
    from runtime import Runtime

log = logging.getLogger(__name__)

INSTANCE_KEY = "prompt_server"


class BinaryEventTypes:
    """ComfyUI's binary websocket frame types (``protocol.BinaryEventTypes``)."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class RecordedCalls:
    """Stands for an aiohttp object that does not exist yet: calls on it are recorded, to be replayed on the real
    one (``app.router.add_static(...)`` at plug-in import)."""

    frozen = False  # KJNodes checks ``app.router.frozen`` before adding a route

    def __init__(self, path: tuple[str, ...], calls: list[tuple[tuple[str, ...], tuple, dict]]) -> None:
        self._path, self._calls = path, calls

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return RecordedCalls((*self._path, name), self._calls)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self._calls.append((self._path, args, kwargs))


class PendingApp:
    """``PromptServer.instance.app`` before Atelier's application exists: ``add_routes``, ``router.*``,
    ``middlewares``, ``on_startup``/``on_shutdown``/``on_cleanup`` and ``app[key]`` are kept for ``replay``."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], tuple, dict]] = []
        self.router = RecordedCalls(("router",), self.calls)
        self.middlewares: list[Any] = []
        self.on_startup: list[Any] = []
        self.on_shutdown: list[Any] = []
        self.on_cleanup: list[Any] = []
        self.state: dict[str, Any] = {}

    def add_routes(self, routes: Any) -> None:
        self.calls.append((("router", "add_routes"), (list(routes),), {}))

    def add_subapp(self, prefix: str, subapp: web.Application) -> None:
        self.calls.append((("add_subapp",), (prefix, subapp), {}))

    def __setitem__(self, key: str, value: Any) -> None:
        self.state[key] = value

    def __getitem__(self, key: str) -> Any:
        return self.state[key]

    def replay(self, app: web.Application) -> None:
        app.middlewares.extend(self.middlewares)
        app.on_startup.extend(self.on_startup)
        app.on_shutdown.extend(self.on_shutdown)
        app.on_cleanup.extend(self.on_cleanup)
        for key, value in self.state.items():
            app[key] = value
        for path, args, kwargs in self.calls:
            target: Any = app
            for name in path:
                target = getattr(target, name)
            target(*args, **kwargs)


class PromptQueueView:
    """``PromptServer.instance.prompt_queue``: the names of ComfyUI's ``execution.PromptQueue`` that packs read,
    over the runtime's queue and history."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def get_current_queue(self) -> tuple[list, list]:
        return self._runtime.queue.snapshot()

    def get_current_queue_volatile(self) -> tuple[list, list]:
        return self._runtime.queue.snapshot()

    def get_tasks_remaining(self) -> int:
        return self._runtime.queue.remaining()

    def get_history(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict:
        if prompt_id is None:
            return self._runtime.store.history(max_items, offset)
        entry = self._runtime.store.history_entry(prompt_id)
        return {prompt_id: entry} if entry is not None else {}

    def wipe_queue(self) -> None:
        self._runtime.queue.clear()

    def delete_queue_item(self, function: Callable[[list], bool]) -> bool:
        """Delete the first pending item ``function`` accepts (items are ComfyUI's ``[number, prompt_id, ...]``)."""
        _, pending = self._runtime.queue.snapshot()
        for item in pending:
            if function(item):
                self._runtime.queue.delete([item[1]])
                return True
        return False

    def set_flag(self, name: str, data: Any) -> None:
        """ComfyUI's ``unload_models`` / ``free_memory`` flags: carried out between prompts, like ``POST /free``."""
        self._runtime.request_free(name == "unload_models" and bool(data), name == "free_memory" and bool(data))

    def put(self, item: Any) -> None:
        raise NotImplementedError("Atelier queues prompts through POST /prompt (its queue validates them first)")


class UserManagerView:
    """``PromptServer.instance.user_manager``: Atelier has one user, ``default``, under the user folder."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def get_request_user_id(self, request: Any = None) -> str:
        return "default"

    def get_request_user_filepath(self, request: Any, file: str | None, type: str = "userdata",
                                  create_dir: bool = True) -> str | None:
        if type != "userdata":
            raise KeyError(f"unknown user file type {type!r}")
        root = self._runtime.user_root().resolve()
        if file is None:
            return str(root)
        path = (root / file).resolve()
        if not path.is_relative_to(root):
            return None
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)


class _PromptServerType(type):
    @property
    def instance(cls) -> PromptServer:
        """The bound runtime's ``PromptServer`` (made on first use)."""
        extras = compat.host.host().extras
        if INSTANCE_KEY not in extras:
            extras[INSTANCE_KEY] = PromptServer(compat.host.runtime())
        return extras[INSTANCE_KEY]


class PromptServer(metaclass=_PromptServerType):
    """ComfyUI's ``PromptServer`` as a view of one runtime and, once mounted, of the websocket hub."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._hub: WebSocketHub | None = None
        self.app: Any = PendingApp()
        self.routes = web.RouteTableDef()
        self.supports = ["custom_nodes_from_web"]  # packs skip copying their JS into ComfyUI's web folder
        self.on_prompt_handlers: list[Callable[[dict], dict]] = []
        self.prompt_queue = PromptQueueView(runtime)
        self.user_manager = UserManagerView(runtime)
        self._prompt: tuple[str | None, str | None] = (None, None)  # (prompt id, client id) of the latest start
        self._last_node_id: str | None = None
        runtime.events.subscribe(self)

    # The running prompt, as ComfyUI's server tracks it (it sets client_id and last_node_id as prompts run).
    def on_event(self, event: str, data: Any, client_id: str | None) -> None:
        if event == "execution_start" and isinstance(data, dict):
            self._prompt = (data.get("prompt_id"), client_id)
        elif event == "executing" and isinstance(data, dict):
            self._last_node_id = data.get("node")

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        pass

    @property
    def client_id(self) -> str | None:
        """The client that queued the running (or latest) prompt; None for a prompt queued without one."""
        prompt_id, client = self._prompt
        context = current_context()
        if context is not None and context.prompt_id != prompt_id:
            return None  # a prompt without a client sends no execution_start to listen to
        return client

    @property
    def last_node_id(self) -> str | None:
        context = current_context()
        return context.node_id if context is not None else self._last_node_id

    @property
    def number(self) -> int:
        """The number the next prompt queued at the back gets (ComfyUI counts from 0)."""
        return self._runtime.queue.peek_number()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._hub.loop if self._hub is not None else None

    @property
    def sockets(self) -> dict[str, Any]:
        return {sid: client.socket for sid, client in self._hub.clients.items()} if self._hub else {}

    @property
    def sockets_metadata(self) -> dict[str, dict[str, Any]]:
        """Per client, the feature flags it announced (``comfy_api.feature_flags`` reads them)."""
        if self._hub is None:
            return {}
        return {sid: {"feature_flags": dict(client.feature_flags)} for sid, client in self._hub.clients.items()}

    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        """A message for client ``sid`` (everyone when None): JSON events as they are; preview images through the
        runtime's previews; other binary events (``TEXT``, raw preview bytes) as ComfyUI's binary frames."""
        events = self._runtime.events
        if event in (BinaryEventTypes.PREVIEW_IMAGE, BinaryEventTypes.UNENCODED_PREVIEW_IMAGE) \
                and isinstance(data, (tuple, list)):
            self._preview(data, {}, sid)
        elif event == BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA and isinstance(data, (tuple, list)):
            image_data, metadata = data
            self._preview(image_data, dict(metadata or {}), sid)
        elif isinstance(data, (bytes, bytearray)):
            events.send(event, bytes(data), sid)  # type: ignore[arg-type]  # the hub frames bytes as binary
        else:
            events.send(str(event), data, sid)

    async def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self._runtime.events.send(event, data, sid)

    async def send_bytes(self, event: int, data: bytes, sid: str | None = None) -> None:
        self._runtime.events.send(event, bytes(data), sid)  # type: ignore[arg-type]

    def encode_bytes(self, event: int, data: bytes) -> bytes:
        if not isinstance(event, int):
            raise RuntimeError(f"Binary event types must be integers, got {event}")
        return struct.pack(">I", event) + bytes(data)

    def send_progress_text(self, text: str | bytes, node_id: str, sid: str | None = None) -> None:
        """Text shown on a node (ComfyUI's web app reads it from a binary ``TEXT`` frame: node id length, node id,
        text); sent to the running prompt's client when ``sid`` is None, as ComfyUI's callers mostly intend."""
        body = text.encode() if isinstance(text, str) else bytes(text)
        node = str(node_id).encode()
        self.send_sync(BinaryEventTypes.TEXT, struct.pack(">I", len(node)) + node + body, sid or self.client_id)

    def add_on_prompt_handler(self, handler: Callable[[dict], dict]) -> None:
        """``handler(body)`` sees (and may replace) every ``POST /prompt`` body before it is validated."""
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, body: dict) -> dict:
        for handler in self.on_prompt_handlers:
            try:
                body = handler(body)
            except Exception:
                log.exception("an on_prompt handler of a plug-in failed")
        return body

    def queue_updated(self) -> None:
        self._runtime.events.send("status", self._runtime.worker.status())

    def _preview(self, image_data: Any, metadata: dict[str, Any], sid: str | None) -> None:
        """A PIL preview image ``(format, image, max_size)`` shown on the running node."""
        from PIL import ImageOps

        _, image, max_size = image_data
        if max_size is not None:
            image = ImageOps.contain(image, (max_size, max_size))
        context = current_context()
        prompt_id = metadata.get("prompt_id") or (context.prompt_id if context else "")
        node_id = metadata.get("node_id") or (context.node_id if context else self._last_node_id or "")
        self._runtime.events.send_preview(image, sid, prompt_id, str(node_id))

    def mount(self, app: web.Application, hub: WebSocketHub) -> None:
        """Put what plug-ins registered on Atelier's application: ``routes`` as declared and under ``/api``
        (static routes only as declared), then the recorded ``.app`` calls; ``.app`` is the real one from now."""
        self._hub = hub
        api_routes = [web.RouteDef(route.method, "/api" + route.path, route.handler, route.kwargs)
                      for route in self.routes if isinstance(route, web.RouteDef)]
        app.router.add_routes(api_routes)
        app.router.add_routes(list(self.routes))
        if isinstance(self.app, PendingApp):
            self.app.replay(app)
        self.app = app


PromptServer.__module__ = "server"  # ComfyUI's home of the class (packs locate their install from its file)


def mount(app: web.Application, runtime: Runtime, hub: WebSocketHub) -> None:
    """Mount the runtime's ``PromptServer`` on ``app`` when plug-ins asked for one."""
    server = _server_of(runtime)
    if server is not None:
        server.mount(app, hub)


def trigger_on_prompt(runtime: Runtime, body: Any) -> Any:
    """A ``POST /prompt`` body after plug-ins' ``add_on_prompt_handler`` handlers (as ComfyUI calls them)."""
    server = _server_of(runtime)
    return server.trigger_on_prompt(body) if server is not None and isinstance(body, dict) else body


def _server_of(runtime: Runtime) -> PromptServer | None:
    try:
        host = compat.host.host()
    except compat.host.NotBound:
        return None
    return host.extras.get(INSTANCE_KEY) if host.runtime is runtime else None
