"""UI-format workflow -> API-format prompt, as ComfyUI's web app builds it when it queues (``graphToPrompt``).

Every node that runs becomes one prompt entry: nodes inside subgraph instances and group nodes with path ids
(``"12:5"``); widget values first, then each linked input resolved to the output that really produces it. Muted
nodes (mode 2) and muted subgraph instances give nothing; a bypassed node (mode 4), also a bypassed instance, hands
on its input of the matching type; reroutes are followed and primitive nodes become constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from execution.workflows.graph import (
    SUBGRAPH_INPUT,
    Graph,
    WorkflowError,
    check_workflow_shape,
    read_graph,
    subgraph_definitions,
)
from execution.workflows.group_nodes import group_definition, group_name
from execution.workflows.scopes import Scope, instance_scope
from execution.workflows.widgets import read_widgets, wrap

MUTED, BYPASSED = 2, 4
# Node types that exist only in the web app (and its plug-ins' scripts): never sent to the server.
VIRTUAL_NODES = {"PrimitiveNode", "Reroute", "Note", "MarkdownNote", "Reroute (rgthree)", "Label (rgthree)",
                 "Bookmark (rgthree)", "Fast Groups Muter (rgthree)", "Fast Groups Bypasser (rgthree)",
                 "Fast Muter (rgthree)", "Fast Bypasser (rgthree)", "Fast Actions Button (rgthree)",
                 "Mute / Bypass Repeater (rgthree)", "Mute / Bypass Relay (rgthree)", "Random Unmuter (rgthree)",
                 "Node Collector (rgthree)", "Note Plus (mtb)", "SetNode", "GetNode"}
PASS_THROUGH = {"Reroute", "Reroute (rgthree)"}
MAX_DEPTH = 1000


@dataclass(frozen=True)
class Constant:
    """A link that resolved to a value (a PrimitiveNode, or an instance's promoted widget)."""

    value: Any


@dataclass
class Conversion:
    prompt: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


class Converter:
    def __init__(self, workflow: dict[str, Any], object_info: dict[str, Any]) -> None:
        self.info = object_info
        self.root = Scope(read_graph(workflow))
        self.definitions = subgraph_definitions(workflow)
        self.graphs: dict[str, Graph] = {}
        self.group_nodes = (workflow.get("extra") or {}).get("groupNodes") or {}
        self.scopes: dict[str, Scope | None] = {}
        self.result = Conversion({})

    def convert(self) -> Conversion:
        self._place(self.root)
        _drop_dangling_links(self.result.prompt)
        return self.result

    def _place(self, scope: Scope) -> None:
        for node in scope.graph.nodes.values():
            child = self._child(scope, node)
            if node.get("mode") in (MUTED, BYPASSED):
                continue
            if child is not None:
                self._place(child)
            elif not self._is_virtual(node):
                self.result.prompt[scope.exec_id(node["id"])] = self._entry(scope, node)

    def _is_virtual(self, node: dict[str, Any]) -> bool:
        kind = node.get("type")
        return kind in VIRTUAL_NODES and (kind not in self.info or kind in ("PrimitiveNode", "Reroute"))

    def _child(self, scope: Scope, node: dict[str, Any]) -> Scope | None:
        """The scope of ``node`` as a subgraph instance or group node; None for any other node."""
        key = scope.exec_id(node["id"])
        if key not in self.scopes:
            self.scopes[key] = self._make_child(scope, node)
        return self.scopes[key]

    def _make_child(self, scope: Scope, node: dict[str, Any]) -> Scope | None:
        kind = str(node.get("type"))
        group = group_name(kind, self.group_nodes) if kind not in self.definitions else None
        if kind not in self.definitions and group is None:
            return None
        definition_id = kind if group is None else f"group:{group}"
        if definition_id in scope.definition_ids or len(scope.path) > 64:
            raise WorkflowError(f"subgraph {kind!r} contains itself (node {scope.exec_id(node['id'])})")
        if group is None:
            graph = self.graphs.setdefault(kind, read_graph(self.definitions[kind]))
            return instance_scope(scope, node, graph, definition_id, self.info)
        definition, widget_targets = group_definition(group, self.group_nodes[group], self.info)
        child = instance_scope(scope, {**node, "widgets_values": None}, read_graph(definition), definition_id,
                               self.info, by_position=True)
        values = node.get("widgets_values") if isinstance(node.get("widgets_values"), list) else []
        child.overrides = {target: value for target, value in zip(widget_targets, values, strict=False)
                           if target is not None}
        return child

    def _entry(self, scope: Scope, node: dict[str, Any]) -> dict[str, Any]:
        exec_id = scope.exec_id(node["id"])
        info = self.info.get(node.get("type"))
        linked = frozenset(slot.get("name") for slot in node.get("inputs") or [] if slot.get("link") is not None)
        inputs, warnings = read_widgets(node, info, f"{node.get('type')} #{exec_id}", linked)
        self.result.warnings += warnings
        for (node_id, widget), value in scope.overrides.items():
            if node_id == str(node["id"]):
                inputs[widget] = wrap(value)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            resolved = self._resolve_link(scope, int(slot["link"]), str(slot.get("type", "*")), 0)
            if isinstance(resolved, Constant):
                inputs[slot["name"]] = wrap(resolved.value)
            elif resolved is not None:
                inputs[slot["name"]] = resolved
        title = node.get("title") or (info or {}).get("display_name") or node.get("type")
        return {"inputs": inputs, "class_type": node.get("type"), "_meta": {"title": title}}

    def _resolve_link(self, scope: Scope, link_id: int, wanted: str, depth: int) -> list[Any] | Constant | None:
        """What feeds link ``link_id`` of ``scope``: ``[node id, slot]``, a ``Constant``, or None (dropped)."""
        if depth > MAX_DEPTH:
            raise WorkflowError(f"the links around node {scope.exec_id('?')} form a loop")
        link = scope.graph.links.get(link_id)
        if link is None:
            return None
        if _same_id(link.origin_id, SUBGRAPH_INPUT) and scope.parent is not None:
            return self._from_instance(scope, link.origin_slot, wanted, depth)
        origin = scope.graph.node(link.origin_id)
        return None if origin is None else self._resolve_output(scope, origin, link.origin_slot, wanted, depth + 1)

    def _from_instance(self, scope: Scope, index: int, wanted: str, depth: int) -> list[Any] | Constant | None:
        socket = scope.instance_inputs.get(index)
        if socket is not None and socket.get("link") is not None and scope.parent is not None:
            return self._resolve_link(scope.parent, int(socket["link"]), wanted, depth + 1)
        return Constant(scope.promoted[index]) if index in scope.promoted else None

    def _resolve_output(self, scope: Scope, node: dict[str, Any], slot: int, wanted: str,
                        depth: int) -> list[Any] | Constant | None:
        kind = node.get("type")
        if node.get("mode") == BYPASSED:
            return self._through_bypass(scope, node, slot, wanted, depth)
        if kind == "PrimitiveNode":
            return self._primitive(scope, node)
        if kind in PASS_THROUGH or (kind == "GetNode" and self._is_virtual(node)):
            return self._pass_through(scope, node, slot, wanted, depth)
        child = self._child(scope, node)
        if child is not None:
            inner = child.graph.output_link(slot)
            if node.get("mode") == MUTED or inner is None:
                return None
            return self._resolve_link(child, inner, wanted, depth + 1)
        if self._is_virtual(node) or node.get("mode") == MUTED:
            return None
        return [scope.exec_id(node["id"]), slot]

    def _primitive(self, scope: Scope, node: dict[str, Any]) -> Constant | None:
        override = (str(node["id"]), "value")
        if override in scope.overrides:
            return Constant(scope.overrides[override])
        values = node.get("widgets_values")
        return Constant(values[0]) if isinstance(values, list) and values else None

    def _pass_through(self, scope: Scope, node: dict[str, Any], slot: int, wanted: str,
                      depth: int) -> list[Any] | Constant | None:
        if node.get("type") == "GetNode":
            source = _setter_for(scope.graph, node)
            link = ((source or {}).get("inputs") or [{}])[0].get("link") if source else None
        else:
            slots = node.get("inputs") or []
            link = (slots[slot] if slot < len(slots) else (slots or [{}])[0]).get("link")
        return None if link is None else self._resolve_link(scope, int(link), wanted, depth + 1)

    def _through_bypass(self, scope: Scope, node: dict[str, Any], slot: int, wanted: str,
                        depth: int) -> list[Any] | Constant | None:
        slots = node.get("inputs") or []
        chosen = bypass_input(slots, node.get("outputs") or [], slot, wanted)
        if chosen is None or slots[chosen].get("link") is None:
            return None
        return self._resolve_link(scope, int(slots[chosen]["link"]), wanted, depth + 1)


def bypass_input(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], slot: int, wanted: str) -> int | None:
    """The input a bypassed node hands on for output ``slot`` (litegraph's rule): any type takes the same slot;
    else the same slot if its type fits, else the first input of exactly the wanted type, else the first that
    fits both the output and the wanted type."""
    if not inputs:
        return None
    if wanted in ("*", ""):
        return slot if slot < len(inputs) else 0
    output_type = str((outputs[slot] if slot < len(outputs) else {}).get("type", "*"))
    fits = [_types_fit(str(entry.get("type", "*")), output_type) and _types_fit(str(entry.get("type", "*")), wanted)
            for entry in inputs]
    if slot < len(inputs) and fits[slot]:
        return slot
    exact = next((index for index, entry in enumerate(inputs) if entry.get("type") == wanted), None)
    return exact if exact is not None else next((index for index, ok in enumerate(fits) if ok), None)


def _types_fit(first: str, second: str) -> bool:
    if first in ("*", "", "0") or second in ("*", "", "0"):
        return True
    return bool(_type_set(first) & _type_set(second))


def _type_set(kinds: str) -> set[str]:
    return {kind.strip().lower() for kind in kinds.split(",")}


def _setter_for(graph: Graph, getter: dict[str, Any]) -> dict[str, Any] | None:
    """KJNodes' GetNode reads the SetNode of the same name (their first widget) in the same graph."""
    name = (getter.get("widgets_values") or [None])[0]
    return next((node for node in graph.nodes.values()
                 if node.get("type") == "SetNode" and (node.get("widgets_values") or [None])[0] == name), None)


def _same_id(node_id: Any, wanted: int) -> bool:
    return str(node_id) == str(wanted)


def _drop_dangling_links(prompt: dict[str, dict[str, Any]]) -> None:
    """Inputs linked to a node that is not in the prompt are removed, as the web app does."""
    for node in prompt.values():
        for name, value in list(node["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                del node["inputs"][name]


def convert_workflow(workflow: dict[str, Any], object_info: dict[str, Any]) -> Conversion:
    """The API prompt of a UI-format workflow and its warnings; ``WorkflowError`` when its structure cannot be
    read."""
    check_workflow_shape(workflow)
    try:
        return Converter(workflow, object_info).convert()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, WorkflowError):
            raise
        raise WorkflowError(f"cannot read the workflow: {type(exc).__name__}: {exc}") from exc


def ui_to_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API-format prompt of a UI-format workflow (schema 0.4 or 1.0)."""
    return convert_workflow(workflow, object_info).prompt
