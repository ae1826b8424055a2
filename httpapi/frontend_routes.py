"""Routes ComfyUI's own web app calls beside the prompt API: users, translations, templates, the model library.

Shapes follow ComfyUI's ``app/user_manager.py`` (``/users``), ``app/custom_node_manager.py`` (``/i18n``,
``/workflow_templates``), ``app/model_manager.py`` (``/experiment/models``) and the ``/templates`` files its
template package serves. Atelier's shipped workflows are offered twice, as ComfyUI's app browses templates: as the
core template index (``/templates/index.json``) and as the ``atelier`` module of ``/workflow_templates``, beside
the example workflows of installed plug-ins.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from core.folders import Folders, PathEscapeError, safe_join
from httpapi.bodies import read_object
from httpapi.file_routes import json_error
from runtime import Runtime

ATELIER_MODULE = "atelier"
# The folders of a plug-in that hold example workflows, in ComfyUI's order.
EXAMPLE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
# The files of a plug-in's locales/<lang>/ folder beside main.json, each merged in under its stem.
LOCALE_FILES = ("nodeDefs.json", "commands.json", "settings.json")
HIDDEN_MODEL_KINDS = ("configs", "custom_nodes")  # never listed by ComfyUI's /experiment/models


def routes(runtime: Runtime) -> web.RouteTableDef:
    """The API routes (served with and without ``/api``)."""
    table = web.RouteTableDef()

    @table.get("/users")
    async def users(request: web.Request) -> web.Response:
        """Single-user: settings and workflows live on the server (``migrated``: nothing in browser storage)."""
        return web.json_response({"storage": "server", "migrated": True})

    @table.post("/users")
    async def add_user(request: web.Request) -> web.Response:
        await read_object(request, {"username": str})
        return json_error(400, "single_user", "Atelier has one user; it has no user profiles to add")

    @table.get("/i18n")
    async def i18n(request: web.Request) -> web.Response:
        return web.json_response(plugin_translations(runtime.settings.custom_node_dirs))

    @table.get("/workflow_templates")
    async def workflow_templates(request: web.Request) -> web.Response:
        templates = {ATELIER_MODULE: [path.stem for path in shipped_workflows(runtime)]}
        templates.update(plugin_example_workflows(runtime.settings.custom_node_dirs))
        return web.json_response({module: names for module, names in templates.items() if names})

    @table.get("/workflow_templates/{module}/{name}")
    async def workflow_template(request: web.Request) -> web.StreamResponse:
        module, name = request.match_info["module"], request.match_info["name"]
        try:
            path = template_file(runtime, module, name)
        except PathEscapeError as exc:
            return json_error(403, "forbidden_path", str(exc))
        if path is None:
            return json_error(404, "not_found", f"no workflow template {module}/{name}")
        return web.FileResponse(path)

    @table.get("/experiment/models")
    async def model_folders(request: web.Request) -> web.Response:
        folders = runtime.folders
        return web.json_response([{"name": kind, "folders": [str(path) for path in folders.model_dirs(kind)]}
                                  for kind in folders.model_kind_names() if kind not in HIDDEN_MODEL_KINDS])

    @table.get("/experiment/models/{folder}")
    async def model_files(request: web.Request) -> web.Response:
        kind = request.match_info["folder"]
        try:
            return web.json_response(model_file_entries(runtime.folders, kind))
        except KeyError:
            return json_error(404, "unknown_folder", f"no model folder named {kind!r}")

    return table


def template_routes(runtime: Runtime) -> web.RouteTableDef:
    """The core template files, which ComfyUI's app fetches from the site root (never under ``/api``)."""
    table = web.RouteTableDef()

    @table.get("/templates/index.json")
    async def index(request: web.Request) -> web.Response:
        return web.json_response(template_index(runtime))

    @table.get("/templates/{name}.json")
    async def template(request: web.Request) -> web.StreamResponse:
        path = _shipped_workflow(runtime, request.match_info["name"])
        return web.FileResponse(path)

    @table.get("/templates/{name}-1.svg")
    async def thumbnail(request: web.Request) -> web.Response:
        path = _shipped_workflow(runtime, request.match_info["name"])
        return web.Response(text=workflow_thumbnail(json.loads(path.read_text(encoding="utf-8"))),
                            content_type="image/svg+xml")

    return table


def shipped_workflows(runtime: Runtime) -> list[Path]:
    folder = runtime.settings.workflows_dir
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _shipped_workflow(runtime: Runtime, name: str) -> Path:
    try:
        path = safe_join(runtime.settings.workflows_dir, name + ".json")
    except PathEscapeError:
        raise web.HTTPNotFound() from None
    if not path.is_file():
        raise web.HTTPNotFound()
    return path


def template_index(runtime: Runtime) -> list[dict[str, Any]]:
    """Atelier's workflows as one module of ComfyUI's template index (``moduleName`` "default" is the module the
    app loads from ``/templates/{name}.json``, with the thumbnail ``/templates/{name}-1.{mediaSubtype}``)."""
    templates = [{"name": path.stem, "title": _workflow_title(path), "description": f"workflows/{path.name}",
                  "mediaType": "image", "mediaSubtype": "svg"} for path in shipped_workflows(runtime)]
    if not templates:
        return []
    return [{"moduleName": "default", "title": "Atelier", "type": "image", "templates": templates}]


def _workflow_title(path: Path) -> str:
    """The name a shipped workflow gives itself (``extra.info.name``), else its file name."""
    try:
        info = json.loads(path.read_text(encoding="utf-8")).get("extra", {}).get("info", {})
    except (OSError, ValueError, AttributeError):
        return path.stem
    name = info.get("name") if isinstance(info, dict) else None
    return name if isinstance(name, str) and name else path.stem


def workflow_thumbnail(workflow: dict[str, Any], width: int = 320, height: int = 240) -> str:
    """A picture of a UI workflow for the template browser: each node a box at its place, titled with its type."""
    boxes = []
    for node in workflow.get("nodes") or []:
        try:
            x, y = (float(v) for v in node["pos"][:2])
            w, h = (float(v) for v in node.get("size", [200, 100])[:2])
        except (KeyError, TypeError, ValueError):
            continue
        boxes.append((x, y, w, h, str(node.get("type", ""))))
    shapes = []
    if boxes:
        left, top = min(b[0] for b in boxes), min(b[1] - 30 for b in boxes)  # titles sit above a node's pos
        right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        scale = 0.9 * min(width / max(right - left, 1.0), height / max(bottom - top, 1.0))
        dx, dy = (width - scale * (right - left)) / 2, (height - scale * (bottom - top)) / 2
        for x, y, w, h, kind in boxes:
            sx, sy = dx + scale * (x - left), dy + scale * (y - 30 - top)
            shapes.append(f'<rect x="{sx:.1f}" y="{sy:.1f}" width="{scale * w:.1f}" height="{scale * (h + 30):.1f}" '
                          f'rx="3" fill="#353535" stroke="#666"/>'
                          f'<text x="{sx + 3:.1f}" y="{sy + 9:.1f}" font-size="7" fill="#ddd" '
                          f'font-family="sans-serif">{html.escape(kind)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}"><rect width="100%" height="100%" fill="#202020"/>{"".join(shapes)}</svg>')


def _plugin_folders(custom_node_dirs: list[Path]) -> list[Path]:
    """Each plug-in package folder, sorted by name within each plug-in folder (ComfyUI's order)."""
    return [entry for base in custom_node_dirs if base.is_dir() for entry in sorted(base.iterdir())
            if entry.is_dir() and not entry.name.startswith(".")]


def plugin_example_workflows(custom_node_dirs: list[Path]) -> dict[str, list[str]]:
    """Plug-in name -> names of the workflows in its example folders (those without any are left out)."""
    found: dict[str, list[str]] = {}
    for plugin in _plugin_folders(custom_node_dirs):
        for folder in EXAMPLE_FOLDERS:
            names = [path.stem for path in sorted((plugin / folder).glob("*.json"))]
            if names:
                found.setdefault(plugin.name, []).extend(names)
    return found


def template_file(runtime: Runtime, module: str, name: str) -> Path | None:
    """The file ``/workflow_templates/{module}/{name}`` names: a shipped workflow for ``atelier``, else a file in
    that plug-in's example folders; raises PathEscapeError for a name leaving its folder."""
    if module == ATELIER_MODULE:
        path = safe_join(runtime.settings.workflows_dir, name)
        return path if path.is_file() else None
    if module in ("", ".", "..") or "/" in module or "\\" in module:
        raise PathEscapeError(f"not a plug-in name: {module!r}")
    for base in runtime.settings.custom_node_dirs:
        for folder in EXAMPLE_FOLDERS:
            # Joined to the example folder itself, so a name stays in it (a plug-in folder may be a symlink).
            path = safe_join(base / module / folder, name)
            if path.is_file():
                return path
    return None


def plugin_translations(custom_node_dirs: list[Path]) -> dict[str, Any]:
    """Translations from plug-ins' ``locales/<lang>/`` folders merged as ComfyUI merges them: ``main.json`` at the
    top, ``nodeDefs.json``, ``commands.json`` and ``settings.json`` under their stems, later plug-ins winning."""
    translations: dict[str, Any] = {}
    for plugin in _plugin_folders(custom_node_dirs):
        locales = plugin / "locales"
        for language in sorted(locales.iterdir()) if locales.is_dir() else []:
            if not language.is_dir():
                continue
            strings = _json_object_file(language / "main.json")
            for name in LOCALE_FILES:
                extra = _json_object_file(language / name)
                if extra:
                    strings[name.removesuffix(".json")] = extra
            if strings:
                translations[language.name] = _merge(translations.get(language.name, {}), strings)
    return translations


def _json_object_file(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` merged into a copy of ``base``, objects key by key, other values replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def model_file_entries(folders: Folders, kind: str) -> list[dict[str, Any]]:
    """A model folder's files (those the loaders list) as ComfyUI's model library lists them: each with the index
    of the folder that holds it among the kind's folders, its size and times. Raises KeyError for an unknown kind."""
    dirs = folders.model_dirs(kind)
    entries = []
    for name in folders.list_models(kind):
        for index, folder in enumerate(dirs):
            try:
                stat = (folder / name).stat()
            except OSError:
                continue
            entries.append({"name": name, "pathIndex": index, "modified": stat.st_mtime, "created": stat.st_ctime,
                            "size": stat.st_size})
            break
    return entries


def front_end_extensions(root: Path | None) -> list[str]:
    """The URLs of a served web app's own extension scripts (``extensions/**/*.js``), as ComfyUI lists them."""
    if root is None or not (root / "extensions").is_dir():
        return []
    return ["/" + path.relative_to(root).as_posix() for path in sorted((root / "extensions").rglob("*.js"))]
