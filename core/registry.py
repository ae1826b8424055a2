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


@dataclass
class Registry:
    definitions: dict[str, NodeDefinition] = field(default_factory=dict)
    builtin_names: set[str] = field(default_factory=set)
    failures: list[PluginFailure] = field(default_factory=list)
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

    def object_info(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {name: definition.object_info(folders) for name, definition in self.definitions.items()}
