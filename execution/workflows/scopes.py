"""Subgraph instances: where a node sits (its scope), and what the instance gives its subgraph.

A scope is the root workflow or one instance of a subgraph definition, named by the path of instance ids from
the root (ComfyUI's execution ids: node 5 inside instance 12 is ``"12:5"``). An instance passes its subgraph:
its input links, the values of its promoted widgets (for subgraph inputs it does not link) and, in the older
``properties.proxyWidgets`` form, values for widgets of inner nodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from execution.workflows.graph import SUBGRAPH_INPUT, Graph
from execution.workflows.widgets import has_control_widget, is_widget_spec, spec_parts

PROMOTED_ELSEWHERE = "-1"  # a proxyWidgets entry naming a subgraph input rather than an inner node


@dataclass
class Scope:
    graph: Graph
    path: tuple[str, ...] = ()
    parent: Scope | None = None
    instance_inputs: dict[int, dict[str, Any]] = field(default_factory=dict)  # subgraph input -> instance socket
    promoted: dict[int, Any] = field(default_factory=dict)  # subgraph input -> the instance's widget value
    overrides: dict[tuple[str, str], Any] = field(default_factory=dict)  # (inner node id, widget) -> value
    definition_ids: tuple[str, ...] = ()  # the definitions entered on the way here, to refuse recursion

    def exec_id(self, node_id: Any) -> str:
        return ":".join((*self.path, str(node_id)))


def instance_scope(parent: Scope, instance: dict[str, Any], graph: Graph, definition_id: str,
                   object_info: dict[str, Any], by_position: bool = False) -> Scope:
    """The scope of subgraph ``graph`` as instance node ``instance`` (in ``parent``) uses it."""
    return Scope(graph, (*parent.path, str(instance["id"])), parent, _socket_map(instance, graph, by_position),
                 *_widget_values(instance, graph, object_info), (*parent.definition_ids, definition_id))


def _socket_map(instance: dict[str, Any], graph: Graph, by_position: bool) -> dict[int, dict[str, Any]]:
    """Instance sockets by subgraph input: by name (the web app rebinds by name), else by position."""
    sockets = [slot for slot in instance.get("inputs") or [] if isinstance(slot, dict)]
    by_name = {slot.get("name"): slot for slot in sockets}
    mapping = {}
    for index, declared in enumerate(graph.inputs):
        named = None if by_position else by_name.get(declared.get("name"))
        chosen = named or (sockets[index] if index < len(sockets) else None)
        if chosen is not None:
            mapping[index] = chosen
    return mapping


def _widget_values(instance: dict[str, Any], graph: Graph,
                   object_info: dict[str, Any]) -> tuple[dict[int, Any], dict[tuple[str, str], Any]]:
    values = instance.get("widgets_values")
    if not isinstance(values, list):
        return {}, {}
    proxies = _proxy_entries((instance.get("properties") or {}).get("proxyWidgets"))
    if proxies:
        return _proxy_values(proxies, values, graph)
    widgets = {index: kind for index in range(len(graph.inputs))
               if (kind := _promoted_widget(instance, graph, index, object_info)) is not None}
    with_controls = len(values) > len(widgets)  # older files kept a slot for each seed's control
    promoted: dict[int, Any] = {}
    position = 0
    for index, kind in widgets.items():
        if position < len(values) and values[position] is not None:
            promoted[index] = values[position]
        position += 1 + (with_controls and kind == "control")
    return promoted, {}


def _proxy_entries(raw: Any) -> list[Any]:
    """``properties.proxyWidgets``, saved as a list or (by some web app versions) as its JSON text; the editor
    reads both (web/src/model/proxyWidgets.ts)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return raw if isinstance(raw, list) else []


def _proxy_values(proxies: list[Any], values: list[Any],
                  graph: Graph) -> tuple[dict[int, Any], dict[tuple[str, str], Any]]:
    names = [declared.get("name") for declared in graph.inputs]
    promoted: dict[int, Any] = {}
    overrides: dict[tuple[str, str], Any] = {}
    for entry, value in zip(proxies, values, strict=False):
        if not isinstance(entry, list) or len(entry) < 2 or value is None:
            continue
        node_id, widget = str(entry[0]), entry[1]
        if node_id == PROMOTED_ELSEWHERE and widget in names:
            promoted[names.index(widget)] = value
        elif node_id != PROMOTED_ELSEWHERE:
            overrides[(node_id, widget)] = value
    return promoted, overrides


def _promoted_widget(instance: dict[str, Any], graph: Graph, index: int, object_info: dict[str, Any]) -> str | None:
    """"widget" (or "control" for a seed) when subgraph input ``index`` feeds a widget inside, else None."""
    socket = next((slot for slot in instance.get("inputs") or [] if slot.get("name") == graph.inputs[index].get(
        "name")), None)
    for link in graph.links.values():
        if link.origin_id != SUBGRAPH_INPUT or link.origin_slot != index:
            continue
        target = graph.node(link.target_id) or {}
        slots = target.get("inputs") or []
        slot = slots[link.target_slot] if link.target_slot < len(slots) else {}
        widget = slot.get("widget") or (socket or {}).get("widget")
        spec = _input_spec(object_info, target.get("type"), slot.get("name"))
        if widget or (spec is not None and is_widget_spec(spec)):
            kind, options = spec_parts(spec)
            name = (widget or {}).get("name") or slot.get("name") or ""
            is_combo = isinstance(kind, list) or kind == "COMBO"  # as widget_slots lays the instance's values out
            return "control" if has_control_widget(name, kind, is_combo, options) else "widget"
    return None


def _input_spec(object_info: dict[str, Any], node_type: Any, name: Any) -> Any:
    declared = (object_info.get(node_type) or {}).get("input") or {}
    return (declared.get("required") or {}).get(name) or (declared.get("optional") or {}).get(name)
