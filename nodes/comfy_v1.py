"""ComfyUI's V1 custom-node class API (INPUT_TYPES, RETURN_TYPES, FUNCTION, ...) as NodeDefinitions."""

from __future__ import annotations

import inspect
from typing import Any

from core.definition import InputSpec, NodeDefinition, OutputSpec


def definition_from_v1(name: str, cls: type, display_name: str | None, python_module: str) -> NodeDefinition:
    """``cls`` as a NodeDefinition. ``INPUT_TYPES`` is called now (a node whose declaration fails is not registered)
    and again whenever the inputs are re-read (``/object_info``, validation), as ComfyUI calls it per request."""
    input_types = cls.INPUT_TYPES()
    outputs = _outputs(cls)
    validate = getattr(cls, "VALIDATE_INPUTS", None)
    return NodeDefinition(
        name=name,
        run=_caller(cls.FUNCTION),
        make_instance=cls,
        inputs=parse_input_types(input_types),
        outputs=outputs,
        display_name=display_name,
        category=getattr(cls, "CATEGORY", "sd"),
        description=getattr(cls, "DESCRIPTION", "") or "",
        python_module=python_module,
        output_node=bool(getattr(cls, "OUTPUT_NODE", False)),
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)),
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        deprecated=bool(getattr(cls, "DEPRECATED", False)),
        experimental=bool(getattr(cls, "EXPERIMENTAL", False)),
        fingerprint=_without_folders(getattr(cls, "IS_CHANGED", None)),
        validate=_without_folders(validate),
        validate_takes=parameter_names(validate) if validate else frozenset(),
        check_lazy_status=_lazy_checker(cls),
        extra_info=_extra_info(cls),
        read_inputs=lambda: parse_input_types(cls.INPUT_TYPES()),
    )


def _caller(function_name: str):
    def run(instance: Any, context: Any, **inputs: Any) -> Any:
        return getattr(instance, function_name)(**inputs)

    return run


def _without_folders(classmethod_: Any):
    """ComfyUI's IS_CHANGED and VALIDATE_INPUTS take only inputs (plug-ins reach folders through folder_paths)."""
    if classmethod_ is None:
        return None
    return lambda folders, **inputs: classmethod_(**inputs)


def _lazy_checker(cls: type):
    if not hasattr(cls, "check_lazy_status"):
        return None

    def check(instance: Any, **inputs: Any) -> list[str]:
        return list(instance.check_lazy_status(**inputs) or [])

    return check


def parse_input_types(input_types: dict[str, dict[str, Any]]) -> list[InputSpec]:
    """The inputs of a V1 ``INPUT_TYPES`` dict (also what a V3 schema declares, see ``compat.v3_nodes``)."""
    specs = []
    for section in ("required", "optional", "hidden"):
        for input_name, raw in (input_types.get(section) or {}).items():
            specs.append(_input(input_name, raw, section))
    return specs


def _input(name: str, raw: Any, section: str) -> InputSpec:
    raw = raw if isinstance(raw, (list, tuple)) else (raw,)
    kind = raw[0]
    options = dict(raw[1]) if len(raw) > 1 and isinstance(raw[1], dict) else {}
    if section == "hidden":
        return InputSpec(name, str(kind), "hidden")
    if isinstance(kind, (list, tuple)):
        return InputSpec(name, "COMBO", section, options, choices=[str(choice) for choice in kind])
    if kind == "COMBO":  # ComfyUI's newer form, served as declared: ("COMBO", {"options": [...]})
        choices = [str(choice) for choice in options.pop("options", None) or []]
        return InputSpec(name, "COMBO", section, options, choices=choices, choices_in_options=True)
    return InputSpec(name, str(kind), section, options)


def _outputs(cls: type) -> list[OutputSpec]:
    types = list(getattr(cls, "RETURN_TYPES", ()))
    names = list(getattr(cls, "RETURN_NAMES", None) or types)
    is_list = list(getattr(cls, "OUTPUT_IS_LIST", None) or [False] * len(types))
    tooltips = list(getattr(cls, "OUTPUT_TOOLTIPS", None) or [None] * len(types))
    rows = zip(types, names, is_list, tooltips, strict=False)
    return [OutputSpec(str(kind), str(name), bool(listed), tip) for kind, name, listed, tip in rows]


def parameter_names(function: Any) -> frozenset[str]:
    """The keyword parameters of ``function`` (``{"*"}`` when it takes ``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return frozenset({"*"})
    return frozenset(p.name for p in parameters)


def _extra_info(cls: type) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if getattr(cls, "SEARCH_ALIASES", None):
        extra["search_aliases"] = list(cls.SEARCH_ALIASES)
    if getattr(cls, "API_NODE", None) is not None:
        extra["api_node"] = bool(cls.API_NODE)
    return extra
