"""Loading plug-ins from ``custom_nodes/``: packages or single ``.py`` files, either API.

A plug-in exports ``ATELIER_NODES`` (a list of ``nodes.api.Node`` classes) and/or ComfyUI's
``NODE_CLASS_MAPPINGS`` (+ ``NODE_DISPLAY_NAME_MAPPINGS``, ``WEB_DIRECTORY``). One that fails to import is
logged and recorded in the registry's ``failures``; it never stops the server.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from core.registry import PluginFailure, Registry
from nodes.comfy_v1 import definition_from_v1

log = logging.getLogger(__name__)


def plugin_entries(folder: Path) -> list[Path]:
    """The packages and ``.py`` files in a custom_nodes folder, in name order."""
    if not folder.is_dir():
        return []
    entries = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")) or entry.name.endswith(".disabled"):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file() or entry.suffix == ".py":
            entries.append(entry)
    return entries


def load_plugins(registry: Registry, folders: list[Path]) -> None:
    for folder in folders:
        for entry in plugin_entries(folder):
            started = time.perf_counter()
            ok = load_plugin(registry, entry)
            log.info("plug-in %s %s in %.2fs", entry.name, "loaded" if ok else "FAILED", time.perf_counter() - started)


def load_plugin(registry: Registry, entry: Path) -> bool:
    module_name = "custom_nodes." + entry.stem.replace(".", "_x_")
    try:
        module = _import(module_name, entry)
        _register_module(registry, module, module_name, entry)
        return True
    except Exception as error:  # a broken plug-in must never take the server down
        log.warning("cannot import plug-in %s: %s", entry, error)
        registry.failures.append(
            PluginFailure(entry.name, str(entry), f"{type(error).__name__}: {error}", traceback.format_exc())
        )
        sys.modules.pop(module_name, None)
        return False


def _import(module_name: str, entry: Path) -> ModuleType:
    location = entry / "__init__.py" if entry.is_dir() else entry
    search = [str(entry)] if entry.is_dir() else None
    spec = importlib.util.spec_from_file_location(module_name, location, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _register_module(registry: Registry, module: ModuleType, module_name: str, entry: Path) -> None:
    own = list(getattr(module, "ATELIER_NODES", []))
    mappings = dict(getattr(module, "NODE_CLASS_MAPPINGS", {}) or {})
    if not own and not mappings:
        raise ImportError("exports neither ATELIER_NODES nor NODE_CLASS_MAPPINGS")
    display_names = dict(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}) or {})
    # Every definition is built before any is registered: a plug-in either loads whole or is reported failed.
    definitions = [node.definition(module_name) for node in own]
    definitions += [definition_from_v1(name, cls, display_names.get(name), module_name)
                    for name, cls in mappings.items()]
    registry.add_all(definitions)
    web_directory = getattr(module, "WEB_DIRECTORY", None)
    if web_directory:
        base = entry if entry.is_dir() else entry.parent
        registry.web_directories[entry.stem] = str((base / web_directory).resolve())
