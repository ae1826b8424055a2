"""A node's ``widgets_values`` read as named inputs, with the web app's rules.

Widgets follow the ``object_info`` input order (required, then optional) for every input of a widget type that
is not ``forceInput``. Two slots hold values the prompt never carries: the ``control_after_generate`` choice
after seeds (and after inputs that ask for one) and the upload button after image choosers. Files saved by an
older node may hold fewer values than the node has widgets today: the missing trailing ones take their defaults,
and the caller gets a warning for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize", "increment-wrap", True, False, None}


@dataclass(frozen=True)
class Slot:
    """One entry of ``widgets_values``: an input's value, or a hidden ``control``/``upload`` value."""

    name: str | None
    kind: str = "value"
    spec: tuple = ()
    socket_only: bool = False  # a forceInput input that older front ends still gave a value


def spec_parts(spec: Any) -> tuple[Any, dict[str, Any]]:
    """An ``object_info`` input spec as (type or choice list, options)."""
    spec = spec if isinstance(spec, (list, tuple)) and spec else ("*",)
    return spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})


def is_widget_spec(spec: Any) -> bool:
    kind, options = spec_parts(spec)
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def _ordered_specs(info: dict[str, Any]) -> list[tuple[str, Any]]:
    declared = info.get("input") or {}
    order = info.get("input_order") or {key: list(value) for key, value in declared.items()}
    return [(name, (declared.get(section) or {}).get(name, ("*",)))
            for section in ("required", "optional") for name in order.get(section) or []]


def widget_slots(info: dict[str, Any], with_socket_only: bool = False) -> list[Slot]:
    """The slots of ``widgets_values`` in order; ``with_socket_only`` gives the layout of files saved before
    ``forceInput`` inputs lost their widgets (front end 1.16)."""
    slots: list[Slot] = []
    for name, spec in _ordered_specs(info):
        kind, options = spec_parts(spec)
        is_combo = isinstance(kind, list) or kind == "COMBO"
        if not (is_combo or kind in WIDGET_TYPES):
            continue
        if options.get("forceInput"):
            if with_socket_only:
                slots.append(Slot(name, spec=tuple(spec), socket_only=True))
            continue
        slots.append(Slot(name, spec=tuple(spec)))
        if has_control_widget(name, kind, is_combo, options):
            slots.append(Slot(None, "control"))
        if options.get("image_upload"):
            slots.append(Slot(None, "upload"))
    return slots


def widget_names(info: dict[str, Any]) -> list[str | None]:
    """The names ``widgets_values`` holds, in order; None marks a hidden slot (seed control, upload)."""
    return [slot.name for slot in widget_slots(info)]


def has_control_widget(name: str, kind: Any, is_combo: bool, options: dict[str, Any]) -> bool:
    """The web app adds a control_after_generate widget after seeds and after inputs that ask for one."""
    if kind == "INT":
        return bool(options.get("control_after_generate")) or name in ("seed", "noise_seed")
    return is_combo and bool(options.get("control_after_generate"))


def default_value(spec: Any) -> Any:
    """The value a new widget starts with, as the web app chooses it."""
    kind, options = spec_parts(spec)
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else None
    if kind == "COMBO":
        choices = options.get("options") or []
        return choices[0] if choices else None
    return {"INT": options.get("min", 0), "FLOAT": options.get("min", 0.0), "STRING": "",
            "BOOLEAN": False}.get(kind)


def wrap(value: Any) -> Any:
    """Lists in a prompt are links; a list value travels as ``{"__value__": [...]}``."""
    return {"__value__": value} if isinstance(value, list) else value


def read_widgets(node: dict[str, Any], info: dict[str, Any] | None, label: str,
                 linked: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """The named widget values of ``node`` (``info``: its ``object_info`` entry, None if unknown) and a warning per
    widget that was missing and took its default (none for ``linked`` inputs: their link gives the value)."""
    values = node.get("widgets_values")
    if isinstance(values, dict):  # some plug-ins (e.g. Video Helper Suite) save their values by name
        known = {slot.name for slot in widget_slots(info)} if info else set(values)
        return {name: wrap(value) for name, value in values.items() if name in known}, []
    if info is None:
        return {}, []
    values = list(values) if isinstance(values, list) else []
    slots = _layout_for(info, len(values))
    named: dict[str, Any] = {}
    warnings: list[str] = []
    position = 0
    for slot in slots:
        if slot.kind == "control" and position < len(values) and values[position] not in CONTROL_VALUES:
            continue  # saved before this input had a control widget: the value belongs to the next widget
        if position < len(values):
            if slot.name is not None and not slot.socket_only:
                named[slot.name] = wrap(values[position])
            position += 1
        elif slot.name is not None and not slot.socket_only:
            named[slot.name] = wrap(default_value(slot.spec))
            if slot.name not in linked:
                warnings.append(f"{label}: {slot.name} was missing; using its default {named[slot.name]!r}")
    return named, warnings


def _layout_for(info: dict[str, Any], count: int) -> list[Slot]:
    current = widget_slots(info)
    older = widget_slots(info, with_socket_only=True)
    return older if len(older) != len(current) and count == len(older) else current
