"""The aiohttp application: every API route under ``/`` and ``/api/``, the web app's files, and guards.

The web app is Atelier's editor (``web/dist``), or with ``--front-end comfyui`` / ``--front-end-root`` a whole
static folder such as ComfyUI's own web app, served at ``/`` where no other route matches.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

import compat.server_view
from core.folders import PathEscapeError, safe_join
from httpapi import (
    file_routes,
    frontend_routes,
    info_routes,
    internal_routes,
    prompt_routes,
    userdata_routes,
    websocket_route,
)
from httpapi.hub import WebSocketHub
from runtime import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(host: str) -> bool:
    host = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def origin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-site requests to a loopback server (another web page calling localhost)."""
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host and origin and _is_loopback(host):
        origin_host = origin.split("://", 1)[-1].split("/", 1)[0]
        if origin_host != host:
            return web.json_response({"error": {"type": "forbidden_origin", "message": "Cross-origin request refused",
                                                "details": f"origin {origin} does not match host {host}",
                                                "extra_info": {}}}, status=403)
    return await handler(request)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTTP errors on API routes come back as JSON in ComfyUI's error shape."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        message = exc.text or exc.reason
        if exc.status == 413:
            message = f"upload too large: {message}"
        body = {"error": {"type": f"http_{exc.status}", "message": message, "details": message, "extra_info": {}}}
        return web.json_response(body, status=exc.status)
    if isinstance(response, web.Response) and not request.path.startswith(("/api/", "/ws")):
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=runtime.settings.max_upload_bytes,
                          middlewares=[origin_guard, json_errors])
    hub = WebSocketHub()
    runtime.events.subscribe(hub)
    modules = (prompt_routes, file_routes, userdata_routes, info_routes, frontend_routes)
    tables = [module.routes(runtime) for module in modules]
    tables += [websocket_route.routes(runtime, hub), internal_routes.routes(runtime, hub)]
    for table in tables:
        app.router.add_routes(table)
        app.router.add_routes(_prefixed(table, "/api"))
    app.router.add_routes(frontend_routes.template_routes(runtime))
    for module, folder in runtime.registry.web_directories.items():
        app.router.add_static(f"/extensions/{module}", folder)
    compat.server_view.mount(app, runtime, hub)  # plug-ins' PromptServer routes and what they did to its .app
    if runtime.settings.front_end_root is not None:
        _add_front_end(app, runtime.settings.front_end_root)
    else:
        _add_editor(app, runtime.settings.web_dist)
    app.on_startup.append(lambda app: _start(runtime, hub))
    app.on_cleanup.append(lambda app: _stop(runtime, hub))
    return app


def _prefixed(table: web.RouteTableDef, prefix: str) -> list[web.RouteDef]:
    return [web.RouteDef(r.method, prefix + r.path, r.handler, r.kwargs) for r in table
            if isinstance(r, web.RouteDef)]


def _add_editor(app: web.Application, dist: Path) -> None:
    async def index(request: web.Request) -> web.StreamResponse:
        page = dist / "index.html"
        if not page.is_file():
            return web.Response(text=json.dumps({"message": "The editor is not built: run `npm run build` in web/."}),
                                content_type="application/json", status=503)
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    if (dist / "assets").is_dir():
        app.router.add_static("/assets", dist / "assets")
    for path in dist.glob("*") if dist.is_dir() else []:
        if path.is_file() and path.name != "index.html":
            app.router.add_get(f"/{path.name}", _file_handler(path))


def _add_front_end(app: web.Application, root: Path) -> None:
    """A whole web app's folder at ``/`` (``index.html``, ``/scripts``, ``/extensions/core``, ``/assets``, ...), as
    ComfyUI serves its web root. The files are one catch-all route, added last: aiohttp looks a path up by its fixed
    leading segments first, so a route that starts with a fixed segment wins over it even when added later."""
    index = root / "index.html"

    async def serve_index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def serve_file(request: web.Request) -> web.StreamResponse:
        try:
            path = safe_join(root, request.match_info["path"])
        except PathEscapeError:
            raise web.HTTPNotFound() from None
        if not path.is_file():
            raise web.HTTPNotFound()  # JSON in ComfyUI's error shape, like every other unknown path
        return web.FileResponse(path)

    app.router.add_get("/", serve_index)
    app.router.add_get("/{path:.+}", serve_file)


def _file_handler(path: Path) -> Handler:
    """A handler serving one file of the editor's build (favicon.ico, ...)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path)

    return serve


async def _start(runtime: Runtime, hub: WebSocketHub) -> None:
    hub.start()
    runtime.start()


async def _stop(runtime: Runtime, hub: WebSocketHub) -> None:
    hub.stop()
    runtime.close()
