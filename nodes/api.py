"""Atelier's typed node API: a node declares its inputs and outputs once, everything else is derived.

    class ImageInvert(Node):
        '''Inverts the colours of an image.'''
        category = "image"
        display_name = "Invert Image"
        inputs = [Socket("image", "IMAGE")]
        outputs = [Output("IMAGE")]

        def execute(self, image):
            return (1.0 - image,)

From that declaration the registry derives ``/object_info`` (ComfyUI's schema), validation, and what the
editor shows. ``execute`` returns a tuple matching ``outputs``, or ``NodeResult`` to add UI data. It takes one
parameter per declared input, and a keyword ``context`` (``core.context.ExecutionContext``: folders, models,
the device policy, progress, interrupt) when it needs the running system; registration refuses a node whose
``execute`` and declaration disagree.

Node modules import torch and the engine inside ``execute``, not at the top: the server lists every node
(``/object_info``) without loading torch, and starts in well under two seconds.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.context import ExecutionContext
from core.definition import Choices, InputSpec, NodeDefinition, OutputSpec
from core.folders import Folders, model_choices

__all__ = [
    "Boolean", "Combo", "ExecutionContext", "Float", "Folders", "Hidden", "Int", "Node", "NodeResult", "Output",
    "Socket", "String", "model_choices",
]


def _options(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None and value is not False}


def _section(optional: bool) -> str:
    return "optional" if optional else "required"


def Int(name: str, default: int = 0, *, min: int | None = None, max: int | None = None, step: int | None = None,
        control_after_generate: bool = False, optional: bool = False, tooltip: str | None = None,
        force_input: bool = False, lazy: bool = False, display: str | None = None) -> InputSpec:
    options = _options(default=default, min=min, max=max, step=step, control_after_generate=control_after_generate,
                       tooltip=tooltip, forceInput=force_input, lazy=lazy, display=display)
    options["default"] = default
    return InputSpec(name, "INT", _section(optional), options)


def Float(name: str, default: float = 0.0, *, min: float | None = None, max: float | None = None,
          step: float | None = None, round: float | bool | None = None, optional: bool = False,
          tooltip: str | None = None, force_input: bool = False, lazy: bool = False,
          display: str | None = None) -> InputSpec:
    """``round=False``: the editor keeps every digit typed (ComfyUI's option), instead of rounding to ``step``."""
    options = _options(min=min, max=max, step=step, round=round, tooltip=tooltip, forceInput=force_input,
                       lazy=lazy, display=display)
    if round is False:
        options["round"] = False
    options = {"default": default, **options}
    return InputSpec(name, "FLOAT", _section(optional), options)


def String(name: str, default: str = "", *, multiline: bool = False, dynamic_prompts: bool | None = None,
           optional: bool = False, tooltip: str | None = None, force_input: bool = False,
           lazy: bool = False, placeholder: str | None = None) -> InputSpec:
    options = _options(multiline=multiline, tooltip=tooltip, forceInput=force_input, lazy=lazy,
                       placeholder=placeholder)
    if dynamic_prompts is not None:
        options["dynamicPrompts"] = dynamic_prompts
    return InputSpec(name, "STRING", _section(optional), {"default": default, **options})


def Boolean(name: str, default: bool = False, *, label_on: str | None = None, label_off: str | None = None,
            optional: bool = False, tooltip: str | None = None, force_input: bool = False,
            lazy: bool = False) -> InputSpec:
    options = _options(label_on=label_on, label_off=label_off, tooltip=tooltip, forceInput=force_input, lazy=lazy)
    return InputSpec(name, "BOOLEAN", _section(optional), {"default": default, **options})


def Combo(name: str, choices: Choices, *, default: str | None = None, optional: bool = False,
          tooltip: str | None = None, image_upload: bool = False, lazy: bool = False,
          control_after_generate: bool = False) -> InputSpec:
    """A choice among strings; ``choices`` may be a callable (e.g. the files of a model folder)."""
    options = _options(default=default, tooltip=tooltip, image_upload=image_upload, lazy=lazy,
                       control_after_generate=control_after_generate)
    return InputSpec(name, "COMBO", _section(optional), options, choices=choices)


def Socket(name: str, type: str, *, optional: bool = False, tooltip: str | None = None,
           lazy: bool = False) -> InputSpec:
    """An input fed only by a link (MODEL, IMAGE, LATENT, ... or "*" for anything)."""
    return InputSpec(name, type, _section(optional), _options(tooltip=tooltip, lazy=lazy))


def Hidden(name: str, kind: str) -> InputSpec:
    """A value the executor supplies: PROMPT, EXTRA_PNGINFO, UNIQUE_ID, ..."""
    return InputSpec(name, kind, "hidden")


def Output(type: str, name: str | None = None, *, is_list: bool = False, tooltip: str | None = None) -> OutputSpec:
    return OutputSpec(type, name, is_list, tooltip)


@dataclass
class NodeResult:
    """What ``execute`` returns when it has UI data (images for the editor) besides its outputs."""

    outputs: tuple = ()
    ui: dict[str, list] = field(default_factory=dict)


class Node:
    """Base class of Atelier's typed nodes. Subclasses set the class attributes and ``execute``."""

    inputs: ClassVar[Sequence[InputSpec]] = ()
    outputs: ClassVar[Sequence[OutputSpec]] = ()
    category: ClassVar[str] = "atelier"
    display_name: ClassVar[str | None] = None
    node_name: ClassVar[str | None] = None  # registry key; defaults to the class name
    output_node: ClassVar[bool] = False
    input_is_list: ClassVar[bool] = False
    not_idempotent: ClassVar[bool] = False
    deprecated: ClassVar[bool] = False
    search_aliases: ClassVar[Sequence[str]] = ()

    def execute(self, **inputs: Any) -> tuple | NodeResult:
        raise NotImplementedError

    @classmethod
    def fingerprint(cls, folders: Folders, **inputs: Any) -> Any:
        """Anything that changes when the node must re-run although its inputs did not (files on disk)."""
        return None

    @classmethod
    def shard_count(cls, folders: Folders, **inputs: Any) -> int:
        """How many shards a prompt with these constant inputs is split into when queued (1: not split); a node
        that overrides it has the integer input ``core.shards.SHARD_INPUT``, which the server sets per shard."""
        return 1

    validates: tuple[str, ...] = ()  # inputs ``validate`` checks instead of the usual checks (ComfyUI's rule)

    @classmethod
    def validate(cls, folders: Folders, **inputs: Any) -> bool | str:
        """Extra checks of constant inputs beyond type, range and choices; return a message to reject."""
        return True

    def check_lazy_status(self, **inputs: Any) -> list[str]:
        """Names of lazy inputs still needed, given those evaluated so far (others are None)."""
        return [spec.name for spec in self.inputs if spec.lazy and inputs.get(spec.name) is None]

    @classmethod
    def definition(cls, python_module: str = "nodes") -> NodeDefinition:
        overrides_fingerprint = cls.fingerprint.__func__ is not Node.fingerprint.__func__  # type: ignore[attr-defined]
        overrides_validate = cls.validate.__func__ is not Node.validate.__func__  # type: ignore[attr-defined]
        overrides_shards = cls.shard_count.__func__ is not Node.shard_count.__func__  # type: ignore[attr-defined]
        has_lazy = any(spec.lazy for spec in cls.inputs)
        extra = {"search_aliases": list(cls.search_aliases)} if cls.search_aliases else {}
        takes_context = check_execute_signature(cls)
        return NodeDefinition(
            name=cls.node_name or cls.__name__,
            run=_run_with_context if takes_context else _run_execute,
            make_instance=cls,
            inputs=list(cls.inputs),
            outputs=list(cls.outputs),
            display_name=cls.display_name,
            category=cls.category,
            description=_description(cls),
            python_module=python_module,
            output_node=cls.output_node,
            input_is_list=cls.input_is_list,
            not_idempotent=cls.not_idempotent,
            deprecated=cls.deprecated,
            fingerprint=cls.fingerprint if overrides_fingerprint else None,
            validate=cls.validate if overrides_validate else None,
            validate_takes=frozenset(cls.validates),
            check_lazy_status=_run_check_lazy if has_lazy else None,
            shard_count=cls.shard_count if overrides_shards else None,
            extra_info=extra,
        )


def check_execute_signature(cls: type[Node]) -> bool:
    """Whether ``execute`` takes ``context``; raises TypeError when its parameters and the declared inputs
    disagree (an undeclared parameter would never be given a value, a declared input would crash the call)."""
    if any(spec.name == "context" for spec in cls.inputs):
        raise TypeError(f"{cls.__name__} declares an input named context, which execute's context parameter takes")
    parameters = list(inspect.signature(cls.execute).parameters.values())[1:]
    takes_context = any(p.name == "context" for p in parameters)
    named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"context"}
    declared = {spec.name for spec in cls.inputs}
    undeclared = sorted(named - declared)
    if undeclared:
        raise TypeError(f"{cls.__name__}.execute takes {', '.join(undeclared)}, which no input declares")
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    missing = sorted(declared - named)
    if missing and not takes_any:
        raise TypeError(f"{cls.__name__} declares {', '.join(missing)}, which execute does not take")
    by_name = {p.name: p for p in parameters}
    without_default = sorted(spec.name for spec in cls.inputs if spec.section == "optional"
                             and spec.name in by_name and by_name[spec.name].default is inspect.Parameter.empty)
    if without_default:  # an optional input left unconnected is not passed at all
        raise TypeError(f"{cls.__name__}.execute needs a default for optional {', '.join(without_default)}")
    return takes_context


def _run_execute(instance: Node, context: ExecutionContext, **inputs: Any) -> Any:
    return instance.execute(**inputs)


def _run_with_context(instance: Node, context: ExecutionContext, **inputs: Any) -> Any:
    return instance.execute(**inputs, context=context)


def _run_check_lazy(instance: Node, **inputs: Any) -> list[str]:
    return instance.check_lazy_status(**inputs)


def _description(cls: type) -> str:
    doc = cls.__doc__ or ""
    return " ".join(line.strip() for line in doc.strip().splitlines()).strip()


def node_definitions(classes: Sequence[type[Node]], python_module: str) -> list[NodeDefinition]:
    return [cls.definition(python_module) for cls in classes]

