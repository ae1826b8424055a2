"""What the server has: system stats, model folders, embeddings, plug-ins, features and shipped workflows."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from core.folders import PathEscapeError, safe_join
from httpapi.file_routes import json_error
from httpapi.frontend_routes import front_end_extensions
from runtime import Runtime

if TYPE_CHECKING:
    from engine.device import Devices

VERSION = "0.1.0"


def routes(runtime: Runtime) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        # The first look at the devices imports torch: off the event loop, so other requests are not held up.
        devices = await asyncio.to_thread(_devices, runtime.devices)
        return web.json_response({"system": _system(), "devices": devices})

    @table.get("/features")
    async def features(request: web.Request) -> web.Response:
        return web.json_response({"supports_preview_metadata": True,
                                  "max_upload_size": runtime.settings.max_upload_bytes})

    @table.get("/models")
    async def model_folders(request: web.Request) -> web.Response:
        return web.json_response(runtime.folders.model_kind_names())

    @table.get("/models/{folder}")
    async def model_files(request: web.Request) -> web.Response:
        try:
            return web.json_response(runtime.folders.list_models(request.match_info["folder"]))
        except KeyError:
            return json_error(404, "unknown_folder", f"no model folder named {request.match_info['folder']!r}")

    @table.get("/embeddings")
    async def embeddings(request: web.Request) -> web.Response:
        names = runtime.folders.list_models("embeddings")
        return web.json_response([os.path.splitext(name)[0] for name in names])

    @table.get("/extensions")
    async def extensions(request: web.Request) -> web.Response:
        urls = front_end_extensions(runtime.settings.front_end_root)  # a served web app's own scripts first
        for module, folder in runtime.registry.web_directories.items():
            for path in sorted(Path(folder).rglob("*.js")):
                urls.append(f"/extensions/{module}/{path.relative_to(folder).as_posix()}")
        return web.json_response(urls)

    @table.get("/view_metadata/{folder}")
    async def view_metadata(request: web.Request) -> web.Response:
        """The ``__metadata__`` of a safetensors file in a model folder."""
        try:
            path = runtime.folders.model_path(request.match_info["folder"], request.query.get("filename", ""))
        except (KeyError, FileNotFoundError, PathEscapeError) as exc:
            return json_error(404, "not_found", str(exc))
        metadata = safetensors_metadata(path)
        if metadata is None:
            return json_error(404, "no_metadata", f"{path.name} has no safetensors metadata")
        return web.json_response(metadata)

    @table.get("/atelier/plugins")
    async def plugins(request: web.Request) -> web.Response:
        modules = sorted({d.python_module for d in runtime.registry.definitions.values()
                          if d.python_module.startswith("custom_nodes.")})
        failed = [{"module": f.module, "node": f.node, "path": f.path, "error": f.error, "traceback": f.traceback}
                  for f in runtime.registry.failures]
        # What packs did while loading that they should not (pip installs, writes outside, network, commands).
        activities = [{"module": a.module, "stage": a.stage, "kind": a.kind, "details": a.details, "more": a.more}
                      for a in runtime.registry.activities]
        return web.json_response({"loaded": modules, "failed": failed, "activities": activities})

    @table.get("/atelier/workflows")
    async def shipped_workflows(request: web.Request) -> web.Response:
        folder = runtime.settings.workflows_dir
        return web.json_response(sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else [])

    @table.get("/atelier/workflows/{name}")
    async def shipped_workflow(request: web.Request) -> web.StreamResponse:
        try:
            path = safe_join(runtime.settings.workflows_dir, request.match_info["name"])
        except PathEscapeError as exc:
            return json_error(403, "forbidden_path", str(exc))
        if not path.is_file():
            return json_error(404, "not_found", f"no shipped workflow {request.match_info['name']!r}")
        return web.FileResponse(path)

    @table.get("/atelier/default_workflow")
    async def default_workflow(request: web.Request) -> web.Response:
        path = runtime.settings.workflows_dir / "default.json"
        if not path.is_file():
            return json_error(404, "not_found", "no default workflow shipped")
        return web.json_response(json.loads(path.read_text()))

    return table


def safetensors_metadata(path: Path) -> dict[str, str] | None:
    """The header's ``__metadata__`` of a .safetensors file, read without loading any tensor."""
    if path.suffix not in (".safetensors", ".sft"):
        return None
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size <= 100 << 20:
            return None
        try:
            header = json.loads(handle.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
    return header.get("__metadata__")


def _system() -> dict[str, object]:
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    total, free = _memory()
    return {"os": platform.system().lower(), "ram_total": total, "ram_free": free, "comfyui_version": VERSION,
            "atelier_version": VERSION, "python_version": sys.version, "pytorch_version": torch_version,
            "embedded_python": False, "argv": sys.argv}


def _memory() -> tuple[int, int]:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return (int(fields["MemTotal"].split()[0]) * 1024, int(fields["MemAvailable"].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        return 0, 0


def _devices(policy: Devices) -> list[dict[str, object]]:
    device = policy.compute_device()
    total, free = _memory()
    entry = {"name": str(device), "type": device.type, "index": device.index or 0, "vram_total": total,
             "vram_free": free, "torch_vram_total": 0, "torch_vram_free": 0}
    if device.type == "cuda":
        import torch

        free_bytes, total_bytes = torch.cuda.mem_get_info()
        entry.update(name=torch.cuda.get_device_name(), vram_total=total_bytes, vram_free=free_bytes)
    return [entry]
