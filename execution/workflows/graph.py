"""The parts of a UI-format workflow the conversion reads, in one shape for schema 0.4 and 1.0.

Links are ``[id, origin, origin_slot, target, target_slot, type]`` lists (0.4) or objects (1.0, and every
subgraph definition); native reroutes (``extra.reroutes``, links with ``parentId``) are only drawing and change
nothing here. Inside a subgraph definition the links from its inputs start at node ``SUBGRAPH_INPUT`` and the
links to its outputs end at ``SUBGRAPH_OUTPUT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20


class WorkflowError(ValueError):
    """A UI-format workflow whose structure is not one the conversion can read; the message names the part."""


@dataclass(frozen=True)
class Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: str


@dataclass
class Graph:
    """The root workflow or one subgraph definition: nodes by id, links by id, and (subgraphs) the link ids
    leaving each input and reaching each output."""

    nodes: dict[str, dict[str, Any]]
    links: dict[int, Link]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""

    def node(self, node_id: Any) -> dict[str, Any] | None:
        return self.nodes.get(str(node_id))

    def output_link(self, slot: int) -> int | None:
        """The link that feeds subgraph output ``slot`` from inside."""
        declared = self.outputs[slot].get("linkIds") if slot < len(self.outputs) else None
        if declared:
            return int(declared[0])
        return next((link_id for link_id, link in self.links.items()
                     if link.target_id == SUBGRAPH_OUTPUT and link.target_slot == slot), None)


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def read_link(raw: Any) -> tuple[int, Link] | None:
    if isinstance(raw, dict):
        return int(raw["id"]), Link(raw["origin_id"], int(raw["origin_slot"]), raw.get("target_id"),
                                    int(raw.get("target_slot", 0)), str(raw.get("type", "*")))
    if isinstance(raw, list) and len(raw) >= 5:
        return int(raw[0]), Link(raw[1], int(raw[2]), raw[3], int(raw[4]), str(raw[5]) if len(raw) > 5 else "*")
    return None


def read_graph(data: dict[str, Any]) -> Graph:
    links = dict(filter(None, (read_link(raw) for raw in data.get("links") or [])))
    nodes = {str(node["id"]): node for node in data.get("nodes") or []}
    return Graph(nodes, links, list(data.get("inputs") or []), list(data.get("outputs") or []),
                 str(data.get("name") or ""))


def subgraph_definitions(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every subgraph definition by id, also those nested in a definition's own ``definitions``."""
    found: dict[str, dict[str, Any]] = {}
    pending = [workflow]
    while pending:
        holder = pending.pop()
        for definition in ((holder.get("definitions") or {}).get("subgraphs") or []):
            if isinstance(definition, dict) and "id" in definition and str(definition["id"]) not in found:
                found[str(definition["id"])] = definition
                pending.append(definition)
    return found


def check_workflow_shape(workflow: dict[str, Any]) -> None:
    """Raise ``WorkflowError`` unless every node (also in subgraph definitions) is an object with an id and a type
    name, its inputs are objects, and links are lists or objects."""
    _check_graph(workflow, "")
    for key, definition in subgraph_definitions(workflow).items():
        _check_graph(definition, f"subgraph {definition.get('name') or key}: ")


def _check_graph(graph: dict[str, Any], where_graph: str) -> None:
    nodes = graph.get("nodes") or []
    if not isinstance(nodes, list):
        raise WorkflowError(f"{where_graph}nodes must be a list")
    for index, node in enumerate(nodes):
        where = f"{where_graph}nodes[{index}]"
        if not isinstance(node, dict):
            raise WorkflowError(f"{where} is a {type(node).__name__}, not a node object")
        if not isinstance(node.get("id"), (int, str)) or isinstance(node.get("id"), bool):
            raise WorkflowError(f"{where} has no id (a number or a string)")
        if not isinstance(node.get("type"), str):
            raise WorkflowError(f"{where} (id {node['id']}) has no type name")
        slots = node.get("inputs") or []
        if not isinstance(slots, list) or not all(isinstance(slot, dict) for slot in slots):
            raise WorkflowError(f"{where} (id {node['id']}): inputs must be a list of objects")
    links = graph.get("links") or []
    if not isinstance(links, list) or not all(isinstance(link, (list, dict)) for link in links):
        raise WorkflowError(f"{where_graph}links must be a list of lists (schema 0.4) or objects (schema 1.0)")
