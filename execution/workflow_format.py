"""UI-format workflows (what editors save and PNGs embed) converted to API-format prompts on the server.

ComfyUI leaves this to its browser front end; doing it here lets the server run a shared ``workflow.json`` or
a PNG directly. The rules are the front end's: widget values are positional in ``object_info`` input order,
with the hidden ``control_after_generate`` value after seeds and the upload value after image choosers;
muted nodes are dropped; bypassed nodes pass through an input of the matching type; reroutes are followed and
primitive nodes become constants.
"""

from __future__ import annotations

from typing import Any

VIRTUAL_NODES = {"PrimitiveNode", "Reroute", "Note", "MarkdownNote"}
MUTED, BYPASSED = 2, 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


class WorkflowError(ValueError):
    """A UI-format workflow whose structure is not one the conversion can read; the message names the part."""


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def check_workflow_shape(workflow: dict[str, Any]) -> None:
    """Raise ``WorkflowError`` unless every node is an object with an id and a type name, its inputs are objects,
    and links are lists or objects."""
    for index, node in enumerate(workflow.get("nodes") or []):
        where = f"nodes[{index}]"
        if not isinstance(node, dict):
            raise WorkflowError(f"{where} is a {type(node).__name__}, not a node object")
        if not isinstance(node.get("id"), (int, str)) or isinstance(node.get("id"), bool):
            raise WorkflowError(f"{where} has no id (a number or a string)")
        if not isinstance(node.get("type"), str):
            raise WorkflowError(f"{where} (id {node['id']}) has no type name")
        slots = node.get("inputs") or []
        if not isinstance(slots, list) or not all(isinstance(slot, dict) for slot in slots):
            raise WorkflowError(f"{where} (id {node['id']}): inputs must be a list of objects")
    links = workflow.get("links") or []
    if not isinstance(links, list) or not all(isinstance(link, (list, dict)) for link in links):
        raise WorkflowError("links must be a list of lists (schema 0.4) or objects (schema 1.0)")


def _links_table(workflow: dict[str, Any]) -> dict[int, tuple[int, int, str]]:
    """link id -> (origin node id, origin slot, type), for v0.4 tuples and v1.0 objects."""
    table = {}
    for link in workflow.get("links") or []:
        if isinstance(link, dict):
            table[int(link["id"])] = (link["origin_id"], int(link["origin_slot"]), str(link.get("type", "*")))
        elif isinstance(link, list) and len(link) >= 5:
            table[int(link[0])] = (link[1], int(link[2]), str(link[5]) if len(link) > 5 else "*")
    return table


def widget_names(info: dict[str, Any]) -> list[str | None]:
    """The names ``widgets_values`` holds, in order; None marks a hidden slot (seed control, upload)."""
    names: list[str | None] = []
    declared = info.get("input", {})
    order = info.get("input_order") or {key: list(value) for key, value in declared.items()}
    for section in ("required", "optional"):
        specs = info.get("input", {}).get(section, {})
        for name in order.get(section, []):
            spec = specs.get(name, ("*",))
            kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
            is_combo = isinstance(kind, list) or kind == "COMBO"
            if not (is_combo or kind in WIDGET_TYPES) or options.get("forceInput"):
                continue
            names.append(name)
            if _has_control_widget(name, kind, is_combo, options):
                names.append(None)
            if options.get("image_upload"):
                names.append(None)
    return names


def _has_control_widget(name: str, kind: Any, is_combo: bool, options: dict[str, Any]) -> bool:
    """The front end adds a control_after_generate widget after seeds and after inputs that ask for one."""
    if kind == "INT":
        return bool(options.get("control_after_generate")) or name in ("seed", "noise_seed")
    return is_combo and bool(options.get("control_after_generate"))


class _Converter:
    def __init__(self, workflow: dict[str, Any], object_info: dict[str, Any]) -> None:
        self.nodes = {node["id"]: node for node in workflow.get("nodes") or []}
        self.links = _links_table(workflow)
        self.object_info = object_info

    def convert(self) -> dict[str, dict[str, Any]]:
        prompt = {}
        for node_id, node in self.nodes.items():
            if node.get("type") in VIRTUAL_NODES or node.get("mode") in (MUTED, BYPASSED):
                continue
            prompt[str(node_id)] = {"class_type": node.get("type"), "inputs": self._inputs(node),
                                    "_meta": {"title": node.get("title") or node.get("type")}}
        return prompt

    def _inputs(self, node: dict[str, Any]) -> dict[str, Any]:
        inputs = self._widget_values(node)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            resolved = self._resolve(int(slot["link"]), slot.get("type", "*"))
            if resolved is None:
                continue
            inputs[slot["name"]] = resolved[1]
        return inputs

    def _widget_values(self, node: dict[str, Any]) -> dict[str, Any]:
        values = node.get("widgets_values")
        if isinstance(values, dict):
            return {name: _wrap(value) for name, value in values.items()}
        info = self.object_info.get(node.get("type"))
        if info is None or not isinstance(values, list):
            return {}
        return {name: _wrap(value) for name, value in zip(widget_names(info), values, strict=False) if name is not None}

    def _resolve(self, link_id: int, wanted_type: str, depth: int = 0) -> tuple[str, Any] | None:
        """Follow a link to a real output: ("link", [id, slot]) or ("value", constant); None if dropped."""
        if depth > 256 or link_id not in self.links:
            return None
        origin_id, origin_slot, _ = self.links[link_id]
        origin = self.nodes.get(origin_id)
        if origin is None or origin.get("mode") == MUTED:
            return None
        kind = origin.get("type")
        if kind == "Reroute":
            upstream = (origin.get("inputs") or [{}])[0].get("link")
            return None if upstream is None else self._resolve(int(upstream), wanted_type, depth + 1)
        if kind == "PrimitiveNode":
            values = origin.get("widgets_values") or []
            return ("value", _wrap(values[0])) if values else None
        if origin.get("mode") == BYPASSED:
            return self._through_bypass(origin, wanted_type, depth)
        return ("link", [str(origin_id), origin_slot])

    def _through_bypass(self, node: dict[str, Any], wanted_type: str, depth: int) -> tuple[str, Any] | None:
        inputs = [slot for slot in node.get("inputs") or [] if slot.get("link") is not None]
        exact = [slot for slot in inputs if slot.get("type") == wanted_type]
        compatible = [slot for slot in inputs if "*" in (slot.get("type"), wanted_type)]
        chosen = (exact or compatible or [None])[0]
        return None if chosen is None else self._resolve(int(chosen["link"]), wanted_type, depth + 1)


def _wrap(value: Any) -> Any:
    return {"__value__": value} if isinstance(value, list) else value


def ui_to_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API-format prompt of a UI-format workflow (schema 0.4 or 1.0); ``WorkflowError`` when its structure is
    not one this can read."""
    check_workflow_shape(workflow)
    try:
        return _Converter(workflow, object_info).convert()
    except (KeyError, TypeError, ValueError) as exc:  # a field of the wrong type deep inside a link or slot
        raise WorkflowError(f"cannot read the workflow: {type(exc).__name__}: {exc}") from exc
