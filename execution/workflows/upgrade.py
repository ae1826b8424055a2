"""Legacy group nodes rewritten as subgraphs, so an editor opens them as it opens any subgraph.

ComfyUI's web app now does the same on load: it unpacks each group node and converts its nodes into a subgraph of
their own. Here the subgraph comes from the one expansion the conversion uses (``group_definition``), so the
upgraded workflow converts to the same prompt: each group node becomes one definition (its widget values written
into the inner nodes, as unpacking does), the instance keeps the group node's id, and the inner nodes keep their
indexes as ids, so prompt ids stay ``"<group node id>:<index>"``. A widget the group node showed as an input but
left unlinked goes back to being a widget of its inner node.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from execution.workflows.graph import (
    SUBGRAPH_INPUT,
    SUBGRAPH_OUTPUT,
    WorkflowError,
    check_workflow_shape,
    subgraph_definitions,
)
from execution.workflows.group_nodes import WidgetTarget, group_definition, group_name
from execution.workflows.widgets import read_widgets, widget_slots

BOUNDARY_WIDTH = 140


@dataclass
class Upgrade:
    workflow: dict[str, Any]
    changes: list[str] = field(default_factory=list)


def upgrade_workflow(workflow: dict[str, Any], object_info: dict[str, Any]) -> Upgrade:
    """``upgrade_group_nodes``, with ``WorkflowError`` naming the problem when the group nodes cannot be read."""
    check_workflow_shape(workflow)
    try:
        return upgrade_group_nodes(workflow, object_info)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, StopIteration) as exc:
        if isinstance(exc, WorkflowError):
            raise
        raise WorkflowError(f"cannot read the group nodes: {type(exc).__name__}: {exc}") from exc


def upgrade_group_nodes(workflow: dict[str, Any], object_info: dict[str, Any]) -> Upgrade:
    """A copy of ``workflow`` with every legacy group node (in the root or in a subgraph) as a subgraph instance,
    and one line per group node that changed; the workflow itself when it has no group nodes."""
    group_nodes = (workflow.get("extra") or {}).get("groupNodes") or {}
    if not isinstance(group_nodes, dict) or not group_nodes:
        return Upgrade(workflow)
    result = copy.deepcopy(workflow)
    upgrade = Upgrade(result)
    created: list[dict[str, Any]] = []
    for graph in [result, *subgraph_definitions(result).values()]:
        for node in graph.get("nodes") or []:
            name = group_name(str(node.get("type")), group_nodes)
            if name is not None:
                created.append(_replace(graph, node, name, group_nodes[name], object_info))
                upgrade.changes.append(f"group node {node['id']} ({name}) is now subgraph {created[-1]['id']}")
    if created:
        definitions = result.setdefault("definitions", {})
        definitions["subgraphs"] = [*(definitions.get("subgraphs") or []), *created]
        del result["extra"]["groupNodes"]
    return upgrade


def _replace(graph: dict[str, Any], node: dict[str, Any], name: str, data: dict[str, Any],
             object_info: dict[str, Any]) -> dict[str, Any]:
    """Turns group node ``node`` (in ``graph``) into an instance of a new definition, which it returns."""
    definition, targets = group_definition(name, data, object_info)
    _write_widget_values(definition["nodes"], targets, node.get("widgets_values"), object_info)
    sockets = [slot for slot in node.get("inputs") or [] if isinstance(slot, dict)]
    kept = _keep_inputs(definition, sockets)
    definition["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"atelier:group-node:{name}:{node['id']}"))
    definition["inputs"] = [_io(definition["inputs"][index], _socket(sockets, index)) for index in kept]
    definition["outputs"] = [_io(declared, _socket(node.get("outputs") or [], index))
                             for index, declared in enumerate(definition["outputs"])]
    _retarget_boundary_links(definition, kept)
    _relink_outputs(definition["nodes"], definition["links"])
    _finish_definition(definition)
    node["type"] = definition["id"]
    node["inputs"] = [_instance_input(definition, position, _socket(sockets, index))
                      for position, index in enumerate(kept)]
    node["widgets_values"] = []
    node.setdefault("title", name)
    _renumber_instance_links(graph, node["id"], {old: new for new, old in enumerate(kept)})
    return definition


def _socket(slots: list[dict[str, Any]], index: int) -> dict[str, Any]:
    return slots[index] if index < len(slots) and isinstance(slots[index], dict) else {}


def _keep_inputs(definition: dict[str, Any], sockets: list[dict[str, Any]]) -> list[int]:
    """The subgraph inputs the instance keeps: all but those that feed an inner widget and are not linked outside;
    those inner inputs become widgets again (their values were written in)."""
    kept = []
    for index, declared in enumerate(definition["inputs"]):
        link_id = declared["linkIds"][0]
        link = next(link for link in definition["links"] if link["id"] == link_id)
        inner = definition["nodes"][link["target_id"]]["inputs"][link["target_slot"]]
        if inner.get("widget") and _socket(sockets, index).get("link") is None:
            inner["link"] = None
            definition["links"].remove(link)
        else:
            kept.append(index)
    return kept


def _io(declared: dict[str, Any], socket: dict[str, Any]) -> dict[str, Any]:
    """A subgraph input or output named as the group node's socket was, typed by it where the group said "*"."""
    kind = declared.get("type", "*")
    if kind in ("*", None):
        kind = socket.get("type", "*")
    return {"id": str(uuid.uuid4()), "name": socket.get("name") or declared["name"], "type": kind,
            "linkIds": list(declared["linkIds"])}


def _retarget_boundary_links(definition: dict[str, Any], kept: list[int]) -> None:
    """Links from the kept inputs start at their new index; every link gets the type of its slot."""
    new_index = {old: new for new, old in enumerate(kept)}
    for link in definition["links"]:
        if link["origin_id"] == SUBGRAPH_INPUT:
            link["origin_slot"] = new_index[link["origin_slot"]]
            link["type"] = definition["inputs"][link["origin_slot"]]["type"]
        elif link["target_id"] == SUBGRAPH_OUTPUT:
            link["type"] = definition["outputs"][link["target_slot"]]["type"]
    names: set[str] = set()
    for declared in definition["inputs"]:
        declared["name"] = _unique(declared["name"], names)


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


def _relink_outputs(nodes: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
    for node in nodes:
        for slot in node.get("outputs") or []:
            slot["links"] = []
    for link in links:
        if link["origin_id"] != SUBGRAPH_INPUT:
            outputs = nodes[link["origin_id"]].setdefault("outputs", [])
            while len(outputs) <= link["origin_slot"]:
                outputs.append({"name": link["type"], "type": link["type"], "links": []})
            outputs[link["origin_slot"]].setdefault("links", []).append(link["id"])


def _finish_definition(definition: dict[str, Any]) -> None:
    """What ComfyUI's web app expects of a definition: boundary nodes beside the inner nodes, counters, flags."""
    positions = [node.get("pos") or [0, 0] for node in definition["nodes"]] or [[0, 0]]
    left = min(float(pos[0]) for pos in positions)
    right = max(float(pos[0]) + float((node.get("size") or [200, 100])[0])
                for pos, node in zip(positions, definition["nodes"], strict=False)) if definition["nodes"] else left
    top = min(float(pos[1]) for pos in positions)
    height = max(60, 30 + 24 * max(len(definition["inputs"]), len(definition["outputs"])))
    definition.update({
        "version": 1, "revision": 0, "config": {}, "groups": [], "extra": {}, "widgets": [],
        "state": {"lastGroupId": 0, "lastNodeId": len(definition["nodes"]) - 1,
                  "lastLinkId": max([link["id"] for link in definition["links"]] + [0]), "lastRerouteId": 0},
        "inputNode": {"id": SUBGRAPH_INPUT, "bounding": [left - BOUNDARY_WIDTH - 80, top, BOUNDARY_WIDTH, height]},
        "outputNode": {"id": SUBGRAPH_OUTPUT, "bounding": [right + 80, top, BOUNDARY_WIDTH, height]},
    })
    for index, node in enumerate(definition["nodes"]):
        node.setdefault("pos", [0, 0])
        node.setdefault("size", [200, 100])
        node.setdefault("flags", {})
        node.setdefault("order", index)
        node.setdefault("mode", 0)
        node.setdefault("properties", {})
        node.pop("index", None)


def _instance_input(definition: dict[str, Any], position: int, socket: dict[str, Any]) -> dict[str, Any]:
    declared = definition["inputs"][position]
    slot = {"name": declared["name"], "type": declared["type"], "link": socket.get("link")}
    if socket.get("label"):
        slot["label"] = socket["label"]
    if _feeds_widget(definition, position):
        slot["widget"] = {"name": declared["name"]}
    return slot


def _feeds_widget(definition: dict[str, Any], position: int) -> bool:
    for link in definition["links"]:
        if link["origin_id"] == SUBGRAPH_INPUT and link["origin_slot"] == position:
            target = definition["nodes"][link["target_id"]]["inputs"][link["target_slot"]]
            return bool(target.get("widget"))
    return False


def _renumber_instance_links(graph: dict[str, Any], node_id: Any, new_slot: dict[int, int]) -> None:
    """Links into the instance follow its inputs to their new slots."""
    for link in graph.get("links") or []:
        if isinstance(link, dict) and str(link.get("target_id")) == str(node_id):
            link["target_slot"] = new_slot.get(int(link["target_slot"]), link["target_slot"])
        elif isinstance(link, list) and len(link) >= 5 and str(link[3]) == str(node_id):
            link[4] = new_slot.get(int(link[4]), link[4])


def _write_widget_values(nodes: list[dict[str, Any]], targets: list[WidgetTarget], values: Any,
                         object_info: dict[str, Any]) -> None:
    """The group node's widget values written into its inner nodes, as unpacking it in the web app does; a hidden
    slot right after a widget (a seed's control_after_generate) goes with that widget."""
    if not isinstance(values, list):
        return
    by_node: dict[int, dict[str, Any]] = {}
    controls: dict[int, dict[str, Any]] = {}
    previous: WidgetTarget = None
    for target, value in zip(targets, values, strict=False):
        if target is not None:
            by_node.setdefault(int(target[0]), {})[target[1]] = value
        elif previous is not None:
            controls.setdefault(int(previous[0]), {})[previous[1]] = value
        previous = target
    for index, named in by_node.items():
        node = nodes[index]
        if node.get("type") == "PrimitiveNode":
            node["widgets_values"] = [named["value"], *(node.get("widgets_values") or [None])[1:]]
        else:
            node["widgets_values"] = _with_values(node, object_info.get(node.get("type")), named,
                                                  controls.get(index, {}))


def _with_values(node: dict[str, Any], info: dict[str, Any] | None, named: dict[str, Any],
                 controls: dict[str, Any]) -> Any:
    """``node``'s widget values with ``named`` (and the ``controls`` after them) set, laid out as today's node lays
    them out."""
    current = node.get("widgets_values")
    if isinstance(current, dict) or info is None:
        return {**(current if isinstance(current, dict) else {}), **named}
    slots = widget_slots(info)
    values = list(current) if isinstance(current, list) else []
    if len(values) != len(slots):  # an older layout: rebuilt from what it reads as
        known, _ = read_widgets(node, info, "")
        values = [_unwrap(known.get(slot.name)) if slot.name is not None else _hidden_value(slot.kind)
                  for slot in slots]
    for position, slot in enumerate(slots):
        if slot.name in named:
            values[position] = named[slot.name]
            following = slots[position + 1] if position + 1 < len(slots) else None
            if slot.name in controls and following is not None and following.kind == "control":
                values[position + 1] = controls[slot.name]
    return values


def _unwrap(value: Any) -> Any:
    return value["__value__"] if isinstance(value, dict) and set(value) == {"__value__"} else value


def _hidden_value(kind: str) -> Any:
    return "fixed" if kind == "control" else "image"
