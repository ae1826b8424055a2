"""Running a few node modules as graphs: a Harness whose registry holds only them and ``Keep``, an output node that
lets a prompt end anywhere so the harness records the values that reach it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from core.folders import Folders
from core.registry import Registry
from nodes.api import Node, NodeResult, Socket, node_definitions
from tests.harness import Harness


class Keep(Node):
    output_node = True
    inputs = [Socket("value", "*")]

    def execute(self, value: Any) -> NodeResult:
        return NodeResult()


def harness_for(folders: Folders, *modules: ModuleType) -> Harness:
    registry = Registry()
    node_classes = [node for module in modules for node in module.NODES]
    registry.add_all(node_definitions([*node_classes, Keep], "nodes"), builtin=True)
    return Harness(folders, registry)


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    """A prompt entry; a link is written ``("node id", output slot)``."""
    return {"class_type": class_type, "inputs": {name: list(value) if isinstance(value, tuple) else value
                                                 for name, value in inputs.items()}}
