"""The registry of node types: built-ins first, then plug-ins; the one place a node type is looked up."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.definition import NodeDefinition
from core.folders import Folders

log = logging.getLogger(__name__)


@dataclass
class PluginFailure:
    """A plug-in, or one node of it (``node``), that could not be loaded; listed by ``/atelier/plugins`` so the
    editor can show it."""

    module: str
    path: str
    error: str
    traceback: str
    node: str | None = None
    stage: str = "load"  # "load", or "inputs": a loaded node's inputs could not be re-read (cleared when they read)


@dataclass
class PluginActivity:
    """Something a plug-in did while it loaded (``stage``: "import" or "prestartup") that a pack should not do
    unasked, reported and never blocked: ``kind`` is "pip-install", "write-outside", "network" or "subprocess";
    ``details`` the first distinct paths, hosts or command lines, ``more`` how many others were left out."""

    module: str
    stage: str
    kind: str
    details: list[str]
    more: int = 0


@dataclass
class Registry:
    definitions: dict[str, NodeDefinition] = field(default_factory=dict)
    builtin_names: set[str] = field(default_factory=set)
    failures: list[PluginFailure] = field(default_factory=list)
    activities: list[PluginActivity] = field(default_factory=list)  # nodes.plugin_audit's reports
    web_directories: dict[str, str] = field(default_factory=dict)  # plug-in module -> folder of .js files

    def add(self, definition: NodeDefinition, builtin: bool = False) -> bool:
        """Register a node type; plug-ins may not replace a built-in (as in ComfyUI)."""
        if definition.name in self.builtin_names:
            log.warning("%s: node %r is built in and cannot be overridden", definition.python_module, definition.name)
            return False
        self.definitions[definition.name] = definition
        if builtin:
            self.builtin_names.add(definition.name)
        return True

    def add_all(self, definitions: Iterable[NodeDefinition], builtin: bool = False) -> None:
        for definition in definitions:
            self.add(definition, builtin)

    def get(self, name: str) -> NodeDefinition | None:
        return self.definitions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.definitions

    def refresh_inputs(self, names: Iterable[str] | None = None) -> None:
        """Re-read the inputs of the named node types (all by default) that declare them by a callable, as ComfyUI
        calls ``INPUT_TYPES`` on every request; a node whose inputs fail to read keeps its last good ones."""
        for name in self.definitions if names is None else names:
            definition = self.definitions.get(name)
            if definition is None or definition.read_inputs is None:
                continue
            before = definition.inputs_error
            problem = definition.refresh_inputs()
            if problem != before:
                self._report_inputs(definition, problem)

    def _report_inputs(self, definition: NodeDefinition, problem: str | None) -> None:
        """Keep one failure per node whose inputs cannot be read now: a new error replaces the old one, and inputs
        that read again remove it."""
        self.failures[:] = [f for f in self.failures if not (f.node == definition.name and f.stage == "inputs")]
        if problem is None:
            return
        log.warning("%s: node %s keeps its last inputs: %s", definition.python_module, definition.name, problem)
        module = definition.python_module.removeprefix("custom_nodes.")
        self.failures.append(PluginFailure(module, definition.python_module, f"inputs could not be re-read, the "
                                           f"last good ones stay: {problem}", "", definition.name, "inputs"))

    def object_info(self, folders: Folders) -> dict[str, dict[str, Any]]:
        """Every node type in ``/object_info``'s schema, its inputs re-read and its choices as ``folders`` hold
        them now."""
        self.refresh_inputs()
        return {name: definition.object_info(folders) for name, definition in self.definitions.items()}
