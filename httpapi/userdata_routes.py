"""ComfyUI's /userdata and /settings: the editor's saved workflows and preferences, written atomically."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

from aiohttp import web

from core.folders import PathEscapeError, safe_join
from httpapi.atomic import write_atomic
from httpapi.bodies import parse_json, read_json, read_object
from httpapi.file_routes import json_error, json_failure
from runtime import Runtime

SETTINGS_FILE = "comfy.settings.json"


def _file_info(root: Path, path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": stat.st_size, "modified": stat.st_mtime}


def routes(runtime: Runtime) -> web.RouteTableDef:
    table = web.RouteTableDef()

    def resolve(encoded: str) -> Path:
        """The user-data path a request names; a path leaving the user folder is answered with 403."""
        relative = urllib.parse.unquote(encoded)
        try:
            if not relative or relative.startswith(("/", "\\")) or "\\" in relative:
                raise PathEscapeError(f"invalid user data path {relative!r}")
            return safe_join(runtime.user_root(), relative)
        except PathEscapeError as exc:
            raise json_failure(403, "forbidden_path", str(exc)) from exc

    def existing_file(encoded: str) -> Path:
        path = resolve(encoded)
        if not path.is_file():
            raise json_failure(404, "not_found", f"{urllib.parse.unquote(encoded)} not found")
        return path

    @table.get("/userdata")
    async def list_userdata(request: web.Request) -> web.Response:
        directory = request.query.get("dir", "")
        if not directory:
            return json_error(400, "missing_dir", "the 'dir' query parameter is required")
        folder = resolve(directory)
        if not folder.is_dir():
            return json_error(404, "not_found", f"user data folder {directory!r} does not exist")
        recurse = request.query.get("recurse", "").lower() == "true"
        full_info = request.query.get("full_info", "").lower() == "true"
        split = request.query.get("split", "").lower() == "true"
        paths = sorted(folder.rglob("*") if recurse else folder.iterdir())
        files = [path for path in paths if path.is_file() and not path.name.startswith(".")]
        if full_info:
            return web.json_response([_file_info(folder, path) for path in files])
        relative = [path.relative_to(folder).as_posix() for path in files]
        if split:
            return web.json_response([[name, *name.split("/")] for name in relative])
        return web.json_response(relative)

    @table.get("/userdata/{file}")
    async def get_userdata(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(existing_file(request.match_info["file"]))

    @table.post("/userdata/{file}")
    async def post_userdata(request: web.Request) -> web.Response:
        path = resolve(request.match_info["file"])
        if request.query.get("overwrite", "true").lower() == "false" and path.exists():
            return json_error(409, "exists", f"{path.name} already exists")
        data = await request.read()
        if path.suffix == ".json" and data.strip():
            parse_json(data)  # refuses to save malformed JSON
        write_atomic(path, data)
        return _saved(runtime, request, path)

    @table.delete("/userdata/{file}")
    async def delete_userdata(request: web.Request) -> web.Response:
        existing_file(request.match_info["file"]).unlink()
        return web.Response(status=204)

    @table.post("/userdata/{file}/move/{dest}")
    async def move_userdata(request: web.Request) -> web.Response:
        source, dest = existing_file(request.match_info["file"]), resolve(request.match_info["dest"])
        if request.query.get("overwrite", "true").lower() == "false" and dest.exists():
            return json_error(409, "exists", f"{dest.name} already exists")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        return _saved(runtime, request, dest)

    def settings_path() -> Path:
        return runtime.user_root() / SETTINGS_FILE

    def read_settings() -> dict:
        path = settings_path()
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except json.JSONDecodeError:
            return {}

    @table.get("/settings")
    async def get_settings(request: web.Request) -> web.Response:
        return web.json_response(read_settings())

    @table.post("/settings")
    async def post_settings(request: web.Request) -> web.Response:
        body = await read_object(request)
        write_atomic(settings_path(), json.dumps({**read_settings(), **body}, indent=2).encode())
        return web.Response(status=200)

    @table.get("/settings/{id}")
    async def get_setting(request: web.Request) -> web.Response:
        return web.json_response(read_settings().get(request.match_info["id"]))

    @table.post("/settings/{id}")
    async def post_setting(request: web.Request) -> web.Response:
        settings = {**read_settings(), request.match_info["id"]: await read_json(request)}
        write_atomic(settings_path(), json.dumps(settings, indent=2).encode())
        return web.Response(status=200)

    return table


def _saved(runtime: Runtime, request: web.Request, path: Path) -> web.Response:
    root = runtime.user_root()
    if request.query.get("full_info", "").lower() == "true":
        return web.json_response(_file_info(root, path))
    return web.json_response(path.relative_to(root).as_posix())
