"""Atelier's built-in nodes, grouped by what they work on."""

from __future__ import annotations

import importlib
import logging

from nodes.definition import NodeDefinition

log = logging.getLogger(__name__)

# Modules listing their nodes in NODES; model-backed groups are added as the engine grows.
MODULES = ["primitives", "image"]
OPTIONAL_MODULES = ["latent", "sd", "conditioning", "gan", "metrics"]


def builtin_definitions() -> list[NodeDefinition]:
    definitions: list[NodeDefinition] = []
    for name in MODULES + OPTIONAL_MODULES:
        try:
            module = importlib.import_module(f"nodes.builtin.{name}")
        except ModuleNotFoundError as error:
            if name in OPTIONAL_MODULES and error.name == f"nodes.builtin.{name}":
                continue
            raise
        definitions.extend(node.definition("nodes") for node in module.NODES)
    return definitions
