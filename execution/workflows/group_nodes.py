"""Legacy group nodes (2023-2025): ``extra.groupNodes[NAME]`` holds copied nodes, and nodes of type
``workflow>NAME`` (``workflow/NAME`` before front end 1.2.63) stand for them.

Each becomes a subgraph definition, so one expansion serves both. The web app numbered the inner nodes by their
position in the group (prompt ids ``"<group node id>:<index>"``) and built the group node's sockets and widgets from
the inner nodes in order: inputs are the inner sockets not linked inside the group, then the converted widgets;
outputs are the inner outputs not used only inside; widgets are the inner widgets (a linked PrimitiveNode gives its
``value``), then the converted ones. ``widgets_values`` of a group node are positional over those widgets.
"""

from __future__ import annotations

from typing import Any

from execution.workflows.graph import SUBGRAPH_INPUT, SUBGRAPH_OUTPUT
from execution.workflows.widgets import has_control_widget, widget_slots

PREFIXES = ("workflow>", "workflow/")

WidgetTarget = tuple[str, str] | None  # (inner node id, widget name), or None for a hidden slot


def group_name(node_type: str, group_nodes: dict[str, Any]) -> str | None:
    """The ``extra.groupNodes`` key a node type stands for, if it is a group node of this workflow."""
    for prefix in PREFIXES:
        if node_type.startswith(prefix) and node_type[len(prefix):] in group_nodes:
            return node_type[len(prefix):]
    return None


def group_definition(name: str, data: dict[str, Any],
                     object_info: dict[str, Any]) -> tuple[dict[str, Any], list[WidgetTarget]]:
    """The subgraph definition standing for group node ``name``, and what each entry of an instance's
    ``widgets_values`` sets."""
    nodes = [dict(node, id=index, inputs=[dict(slot, link=None) for slot in node.get("inputs") or []])
             for index, node in enumerate(data.get("nodes") or [])]
    links: list[dict[str, Any]] = []
    inner_targets: set[tuple[int, int]] = set()
    inner_sources: set[tuple[int, int]] = set()
    for raw in data.get("links") or []:
        if not isinstance(raw, list) or len(raw) < 4 or raw[0] is None or raw[2] is None:
            continue
        origin, origin_slot, target, target_slot = (int(value) for value in raw[:4])
        if target >= len(nodes) or target_slot >= len(nodes[target]["inputs"]):
            continue
        links.append(_link(len(links) + 1, origin, origin_slot, target, target_slot, raw[5] if len(raw) > 5 else "*"))
        nodes[target]["inputs"][target_slot]["link"] = len(links)
        inner_targets.add((target, target_slot))
        inner_sources.add((origin, origin_slot))
    external = {(_node_index(entry[0]), int(entry[1])) for entry in data.get("external") or [] if len(entry) >= 2}
    inputs = _inputs(nodes, links, inner_targets, data.get("config") or {})
    outputs = _outputs(nodes, links, inner_sources, external, object_info)
    definition = {"id": f"group:{name}", "name": name, "nodes": nodes, "links": links, "inputs": inputs,
                  "outputs": outputs}
    return definition, _widget_targets(nodes, inner_targets, inner_sources, object_info)


def _node_index(reference: Any) -> int:
    """An ``external`` entry names its inner node by index, or (in files of some front-end versions) holds the
    whole node with its ``index``."""
    return int(reference["index"]) if isinstance(reference, dict) else int(reference)


def _link(link_id: int, origin: int, origin_slot: int, target: int, target_slot: int, kind: Any) -> dict[str, Any]:
    return {"id": link_id, "origin_id": origin, "origin_slot": origin_slot, "target_id": target,
            "target_slot": target_slot, "type": kind}


def _inputs(nodes: list[dict[str, Any]], links: list[dict[str, Any]], inner: set[tuple[int, int]],
            config: dict[str, Any]) -> list[dict[str, Any]]:
    sockets, converted = [], []
    for node in nodes:
        hidden = {name for name, entry in ((config.get(str(node["id"])) or {}).get("input") or {}).items()
                  if isinstance(entry, dict) and entry.get("visible") is False}
        for slot_index, slot in enumerate(node["inputs"]):
            if (node["id"], slot_index) in inner or slot.get("name") in hidden:
                continue
            (converted if slot.get("widget") else sockets).append((node, slot_index, slot))
    inputs = []
    for node, slot_index, slot in sockets + converted:
        links.append(_link(len(links) + 1, SUBGRAPH_INPUT, len(inputs), node["id"], slot_index, slot.get("type")))
        node["inputs"][slot_index]["link"] = len(links)
        inputs.append({"name": slot.get("name"), "type": slot.get("type", "*"), "linkIds": [len(links)]})
    return inputs


def _outputs(nodes: list[dict[str, Any]], links: list[dict[str, Any]], inner: set[tuple[int, int]],
             external: set[tuple[int, int]], object_info: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = []
    for node in nodes:
        declared = (object_info.get(node.get("type")) or {}).get("output")
        count = len(declared) if isinstance(declared, list) else len(node.get("outputs") or [])
        for slot in range(count):
            if (node["id"], slot) in inner and (node["id"], slot) not in external:
                continue
            links.append(_link(len(links) + 1, node["id"], slot, SUBGRAPH_OUTPUT, len(outputs), "*"))
            outputs.append({"name": f"{node.get('type')} {slot}", "type": "*", "linkIds": [len(links)]})
    return outputs


def _widget_targets(nodes: list[dict[str, Any]], inner_targets: set[tuple[int, int]],
                    inner_sources: set[tuple[int, int]], object_info: dict[str, Any]) -> list[WidgetTarget]:
    targets: list[WidgetTarget] = []
    deferred: list[WidgetTarget] = []
    for node in nodes:
        node_id = str(node["id"])
        if node.get("type") == "PrimitiveNode":
            if (node["id"], 0) in inner_sources:
                kind = ((node.get("outputs") or [{}])[0]).get("type")
                targets += [(node_id, "value")] + ([None] if kind in ("INT", "COMBO") else [])
            continue
        info = object_info.get(node.get("type"))
        if info is None:
            continue
        converted = {slot["widget"].get("name"): index for index, slot in enumerate(node["inputs"])
                     if isinstance(slot.get("widget"), dict)}
        for slot in widget_slots(info):
            if slot.name in converted:
                continue
            targets.append((node_id, slot.name) if slot.name is not None else None)
        for name, index in sorted(converted.items(), key=lambda item: item[1]):
            if (node["id"], index) not in inner_targets:
                deferred.append((node_id, name))
                if has_control_widget(name, "INT", False, {}):
                    deferred.append(None)
    return targets + deferred
