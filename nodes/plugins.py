"""Loading plug-ins from ``custom_nodes/``: packages or single ``.py`` files, either API.

A plug-in exports ``ATELIER_NODES`` (a list of ``nodes.api.Node`` classes) and/or ComfyUI's
``NODE_CLASS_MAPPINGS`` (+ ``NODE_DISPLAY_NAME_MAPPINGS``, ``WEB_DIRECTORY``), whose classes may be V1 classes or
V3 ``io.ComfyNode`` classes, or, without mappings, ComfyUI's V3 ``comfy_entrypoint`` (an async function returning a
``ComfyExtension`` whose ``get_node_list()`` lists V3 classes; run here, before the server's event loop starts).
As in ComfyUI, each package's
``prestartup_script.py`` runs first, before any plug-in is imported. A plug-in that fails to import, or one node
of it that cannot be registered (its ``INPUT_TYPES`` raises, its ``execute`` disagrees with its inputs), is logged
and recorded in the registry's ``failures``; the rest of the pack loads and the server always starts.
"""

from __future__ import annotations

import importlib.util
import logging
import runpy
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from compat.v3_nodes import definition_from_v3, extension_node_classes, is_v3_node
from core.definition import NodeDefinition
from core.registry import PluginFailure, Registry
from nodes.comfy_v1 import definition_from_v1
from nodes.plugin_audit import audit_plugin

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
    entries = [entry for folder in folders for entry in plugin_entries(folder)]
    for entry in entries:
        with audit_plugin(registry, entry, "prestartup"):  # reports pip installs, writes outside, network
            run_prestartup_script(registry, entry)
    for entry in entries:
        started = time.perf_counter()
        with audit_plugin(registry, entry):
            ok = load_plugin(registry, entry)
        log.info("plug-in %s %s in %.2fs", entry.name, "loaded" if ok else "FAILED", time.perf_counter() - started)


def run_prestartup_script(registry: Registry, entry: Path) -> None:
    """A package's ``prestartup_script.py``, run before any plug-in is imported (ComfyUI's hook for set-up that
    must come first); a failing one is reported and the package still loads."""
    script = entry / "prestartup_script.py"
    if not (entry.is_dir() and script.is_file()):
        return
    try:
        runpy.run_path(str(script), run_name=f"custom_nodes.{entry.name}.prestartup_script")
    except Exception as error:
        log.warning("prestartup script of plug-in %s failed: %s", entry.name, error)
        registry.failures.append(PluginFailure(entry.name, str(script), f"prestartup_script.py: "
                                               f"{type(error).__name__}: {error}", traceback.format_exc()))


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


def _register_node(registry: Registry, entry: Path, name: str, build: Callable[[], NodeDefinition]) -> None:
    """Register one node of a plug-in; one that cannot be built is skipped alone and reported, as ComfyUI skips a
    node whose ``INPUT_TYPES`` raises. ``build`` is called at once."""
    try:
        definition = build()
    except Exception as error:
        log.warning("plug-in %s: node %s skipped: %s", entry.name, name, error)
        registry.failures.append(PluginFailure(entry.name, str(entry), f"{type(error).__name__}: {error}",
                                               traceback.format_exc(), node=name))
        return
    registry.add(definition)


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
    entrypoint = getattr(module, "comfy_entrypoint", None)
    if not own and not mappings and not callable(entrypoint):
        raise ImportError("exports neither ATELIER_NODES, NODE_CLASS_MAPPINGS nor comfy_entrypoint")
    display_names = dict(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}) or {})
    for node in own:
        _register_node(registry, entry, node.__name__, lambda: node.definition(module_name))  # noqa: B023
    for name, cls in mappings.items():
        _register_node(registry, entry, name,
                       lambda: _comfy_definition(name, cls, display_names.get(name), module_name))  # noqa: B023
    if not mappings and callable(entrypoint):  # as in ComfyUI, NODE_CLASS_MAPPINGS wins over the entrypoint
        for cls in extension_node_classes(entrypoint):
            _register_node(registry, entry, getattr(cls, "__name__", repr(cls)),
                           lambda: definition_from_v3(cls, module_name))  # noqa: B023
    web_directory = getattr(module, "WEB_DIRECTORY", None)
    if web_directory:
        base = entry if entry.is_dir() else entry.parent
        registry.web_directories[entry.stem] = str((base / web_directory).resolve())


def _comfy_definition(name: str, cls: type, display_name: str | None, module_name: str) -> NodeDefinition:
    """A ``NODE_CLASS_MAPPINGS`` entry: a V3 ``io.ComfyNode`` class (KJNodes lists them next to V1 ones) or V1."""
    if is_v3_node(cls):
        return definition_from_v3(cls, module_name, name, display_name)
    return definition_from_v1(name, cls, display_name, module_name)
