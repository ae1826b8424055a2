"""Atelier's built-in nodes, grouped by what they work on."""

from __future__ import annotations

import importlib

from core.definition import NodeDefinition

# Each module lists its node classes in NODES.
MODULES = ["primitives", "image", "latent", "conditioning", "sd", "sdxl", "model_parts", "adapters", "inpaint",
           "masks", "compositing", "upscaling", "custom_sampling", "merging", "gan", "gan_translate", "gan_stages",
           "metrics", "vision", "sd_addons", "vqgan", "datasets", "dataset_metrics"]


def builtin_definitions() -> list[NodeDefinition]:
    definitions: list[NodeDefinition] = []
    for name in MODULES:
        module = importlib.import_module(f"nodes.builtin.{name}")
        definitions.extend(node.definition("nodes") for node in module.NODES)
    return definitions
