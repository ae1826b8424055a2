"""ComfyUI's ``/internal/*`` routes, which its web app calls: the server log, its live feed, and folder paths.

Shapes follow ComfyUI's ``api_server/routes/internal/internal_routes.py``: ``/internal/logs`` is the log as one
JSON string, ``/internal/logs/raw`` its entries and the terminal size, ``PATCH /internal/logs/subscribe`` starts or
stops ``logs`` socket messages to a client, ``/internal/folder_paths`` maps each model kind to its folders.
"""

from __future__ import annotations

import logging
import shutil

from aiohttp import web

from httpapi.bodies import read_object
from httpapi.file_routes import json_error
from httpapi.hub import WebSocketHub
from runtime import Runtime
from runtime.logs import LogEntry


class LogSubscribers:
    """Clients that asked for new log entries; each entry goes to them as ComfyUI's ``logs`` message."""

    def __init__(self, hub: WebSocketHub) -> None:
        self.hub = hub
        self.client_ids: set[str] = set()

    def subscribe(self, client_id: str, enabled: bool) -> None:
        if enabled:
            self.client_ids.add(client_id)
        else:
            self.client_ids.discard(client_id)

    def forward(self, entry: LogEntry, record: logging.LogRecord) -> None:
        """Called from whichever thread logged; the hub's own records are not forwarded (a failing send that is
        logged would be sent, fail and be logged again)."""
        if record.name.startswith("httpapi.hub"):
            return
        for client_id in list(self.client_ids):
            if client_id not in self.hub.clients:  # the socket closed: ComfyUI drops the subscription too
                self.client_ids.discard(client_id)
                continue
            self.hub.on_event("logs", {"entries": [entry], "size": None}, client_id)


def terminal_size() -> dict[str, int]:
    """The server's terminal size (80x24 without one), which the Logs panel takes for its width."""
    size = shutil.get_terminal_size((80, 24))
    return {"cols": size.columns, "rows": size.lines}


def folder_paths(runtime: Runtime) -> dict[str, list[str]]:
    """Every model kind's folders, and the plug-in folders under ComfyUI's name ``custom_nodes``."""
    folders = runtime.folders
    paths = {kind: [str(path) for path in folders.model_dirs(kind)] for kind in folders.model_kind_names()}
    paths["custom_nodes"] = [str(path) for path in runtime.settings.custom_node_dirs]
    return paths


def routes(runtime: Runtime, hub: WebSocketHub) -> web.RouteTableDef:
    table = web.RouteTableDef()
    subscribers = LogSubscribers(hub)
    runtime.logs.listeners.append(subscribers.forward)

    @table.get("/internal/logs")
    async def logs(request: web.Request) -> web.Response:
        return web.json_response(runtime.logs.text())

    @table.get("/internal/logs/raw")
    async def raw_logs(request: web.Request) -> web.Response:
        return web.json_response({"entries": runtime.logs.entries(), "size": terminal_size()})

    @table.patch("/internal/logs/subscribe")
    async def subscribe(request: web.Request) -> web.Response:
        body = await read_object(request, {"clientId": str, "enabled": bool})
        client_id, enabled = body.get("clientId"), body.get("enabled")
        if client_id is None or enabled is None:
            return json_error(400, "invalid_body", 'expected {"enabled": true|false, "clientId": "..."}')
        subscribers.subscribe(client_id, enabled)
        return web.Response(status=200)

    @table.get("/internal/folder_paths")
    async def get_folder_paths(request: web.Request) -> web.Response:
        return web.json_response(folder_paths(runtime))

    @table.get("/internal/files/{directory_type}")
    async def files(request: web.Request) -> web.Response:
        """The files of input, output or temp (not recursive), newest first."""
        kind = request.match_info["directory_type"]
        if kind not in ("input", "output", "temp"):
            return json_error(400, "invalid_directory_type", f"no folder type {kind!r}: input, output or temp")
        folder = runtime.folders.typed_dir(kind)
        entries = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: -p.stat().st_mtime)
        return web.json_response([p.name for p in entries])

    return table

