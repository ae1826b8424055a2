"""The normalised description of a node type that the registry, validation, executor and editor share.

Both of Atelier's own typed nodes (``nodes.api.Node``) and ComfyUI V1 classes are turned into a
``NodeDefinition``; nothing downstream needs to know which API a node was written with. What a definition calls
outside execution (choices, fingerprint, validate) receives the user's ``Folders``; ``run`` receives the node's
``ExecutionContext``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.folders import Folders

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
HIDDEN_KINDS = ("PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG")

Choices = Sequence[str] | Callable[["Folders"], Sequence[str]]  # a callable lists a folder when asked


@dataclass
class InputSpec:
    """One input: a socket, a widget (constant) or a hidden value the executor supplies."""

    name: str
    type: str  # "INT", "MODEL", ..., "COMBO" for choices, or a hidden kind when section == "hidden"
    section: str = "required"  # "required" | "optional" | "hidden"
    options: dict[str, Any] = field(default_factory=dict)
    choices: Choices | None = None  # only for COMBO
    choices_in_options: bool = False  # render as ("COMBO", {"options": [...]}) (V3 nodes), not the legacy list

    @property
    def lazy(self) -> bool:
        return bool(self.options.get("lazy"))

    def current_choices(self, folders: Folders) -> list[str]:
        if self.choices is None:
            return []
        return list(self.choices(folders) if callable(self.choices) else self.choices)

    def to_comfy(self, folders: Folders) -> tuple:
        """ComfyUI's ``[type, options]`` spec; combos use the legacy list-of-choices form unless declared with
        ``choices_in_options``."""
        if self.section == "hidden":
            return (self.type,)
        if self.type == "COMBO" and self.choices_in_options:
            return ("COMBO", {**self.options, "options": self.current_choices(folders)})
        kind: Any = self.current_choices(folders) if self.type == "COMBO" else self.type
        return (kind, dict(self.options)) if self.options else (kind,)


@dataclass
class OutputSpec:
    type: str
    name: str | None = None
    is_list: bool = False
    tooltip: str | None = None


@dataclass
class NodeDefinition:
    """Everything the runtime knows about a node type."""

    name: str
    run: Callable[..., Any]  # run(instance, context, **inputs) -> raw result (tuple, dict or NodeResult)
    make_instance: Callable[[], Any]
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)
    display_name: str | None = None
    category: str = "sd"
    description: str = ""
    python_module: str = "nodes"
    output_node: bool = False
    input_is_list: bool = False
    not_idempotent: bool = False
    deprecated: bool = False
    experimental: bool = False
    fingerprint: Callable[..., Any] | None = None  # IS_CHANGED: fingerprint(folders, **constant inputs)
    validate: Callable[..., Any] | None = None  # VALIDATE_INPUTS: validate(folders, **inputs) -> True | message
    validate_takes: frozenset[str] = frozenset()  # inputs VALIDATE_INPUTS checks itself ("*" = all)
    check_lazy_status: Callable[..., Any] | None = None  # (instance, **inputs) -> names still needed
    # A dataset node's shards: shard_count(folders, **constant inputs) -> int; a prompt whose node says more than 1
    # is queued as that many prompts, one per shard (core.shards)
    shard_count: Callable[..., int] | None = None
    extra_info: dict[str, Any] = field(default_factory=dict)  # output_tooltips, search_aliases, ...
    # Re-reads the inputs as the node declares them now (a plug-in's INPUT_TYPES or define_schema may list a folder);
    # called whenever /object_info is served or a prompt is validated.
    read_inputs: Callable[[], list[InputSpec]] | None = None
    inputs_error: str | None = None  # why the last read_inputs failed (the node keeps its last good inputs)

    def refresh_inputs(self) -> str | None:
        """Re-read the inputs when the node declares them by a callable; on failure keep the last good ones and
        return the error (None when they were read, or are fixed)."""
        if self.read_inputs is None:
            return None
        try:
            self.inputs = self.read_inputs()
            self.inputs_error = None
        except Exception as error:  # a plug-in's INPUT_TYPES must not break /object_info or validation
            self.inputs_error = f"{type(error).__name__}: {error}"
        return self.inputs_error

    def input(self, name: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def section(self, section: str) -> list[InputSpec]:
        return [spec for spec in self.inputs if spec.section == section]

    def object_info(self, folders: Folders) -> dict[str, Any]:
        """This node in ``/object_info``'s schema, with the choices ``folders`` hold now."""
        sections: dict[str, dict[str, Any]] = {"required": {}, "optional": {}, "hidden": {}}
        for spec in self.inputs:
            sections[spec.section][spec.name] = spec.type if spec.section == "hidden" else spec.to_comfy(folders)
        info: dict[str, Any] = {
            "input": {key: value for key, value in sections.items() if value or key == "required"},
            "input_order": {key: list(value) for key, value in sections.items() if value},
            "output": [out.type for out in self.outputs],
            "output_is_list": [out.is_list for out in self.outputs],
            "output_name": [out.name or out.type for out in self.outputs],
            "name": self.name,
            "display_name": self.display_name or self.name,
            "description": self.description,
            "python_module": self.python_module,
            "category": self.category,
            "output_node": self.output_node,
        }
        tooltips = [out.tooltip or "" for out in self.outputs]
        if any(tooltips):
            info["output_tooltips"] = tooltips
        if self.input_is_list:
            info["is_input_list"] = True
        if self.deprecated:
            info["deprecated"] = True
        if self.experimental:
            info["experimental"] = True
        info.update(self.extra_info)
        return info
