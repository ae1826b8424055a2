"""ComfyUI's V3 node classes (``comfy_api.latest.io.ComfyNode``) as Atelier ``NodeDefinition``s, and the packs'
``comfy_entrypoint`` extensions.

A V3 class declares itself in ``define_schema()``; its inputs become the V1 ``INPUT_TYPES`` dict ComfyUI derives
from the schema, read by the same parser as V1 classes (``nodes.comfy_v1``) and read again on every
``/object_info`` and validation. ``execute``, ``validate_inputs``, ``fingerprint_inputs`` and ``check_lazy_status``
are classmethods, called on a subclass whose ``hidden`` holds the node's hidden values, as ComfyUI calls them; any of
them may be async.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from compat.host import install_path
from core.definition import InputSpec, NodeDefinition, OutputSpec
from nodes.comfy_v1 import parameter_names, parse_input_types

T = TypeVar("T")


def io_module() -> Any:
    """``comfy_api.latest._io``, imported under ComfyUI's name (the one packs subclass from)."""
    install_path()
    from comfy_api.latest import _io

    return _io


def is_v3_node(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, io_module().ComfyNode)


def run_sync(awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, from synchronous code: in a fresh event loop, or in a helper thread when this
    thread already runs one (never blocking on a loop it would have to wait for)."""

    async def wait() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    context = contextvars.copy_context()  # the running node's context reaches the coroutine
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, asyncio.run, wait()).result()


def _resolved(value: Any) -> Any:
    return run_sync(value) if inspect.isawaitable(value) else value


def extension_node_classes(entrypoint: Callable[[], Any]) -> list[type]:
    """The node classes of a pack's ``comfy_entrypoint`` (sync or async), after the extension's ``on_load``."""
    extension = _resolved(entrypoint())
    if not isinstance(extension, _extension_base()):
        raise TypeError(f"comfy_entrypoint returned {type(extension).__name__}, not a ComfyExtension")
    _resolved(extension.on_load())
    classes = _resolved(extension.get_node_list())
    if not isinstance(classes, list):
        raise TypeError(f"get_node_list returned {type(classes).__name__}, not a list of node classes")
    return classes


def _extension_base() -> type:
    install_path()
    from comfy_api.latest import ComfyExtension

    return ComfyExtension


def definition_from_v3(cls: type, python_module: str, name: str | None = None,
                       display_name: str | None = None) -> NodeDefinition:
    """``cls`` as a NodeDefinition named ``name`` (default: the schema's ``node_id``). ``define_schema`` is called
    now, so a node whose declaration fails is not registered."""
    schema = cls.GET_SCHEMA()
    cls.RELATIVE_PYTHON_MODULE = python_module
    hidden_kinds = _hidden_kinds(schema)
    base = io_module().ComfyNode
    overrides = {method: _overrides(cls, base, method)
                 for method in ("validate_inputs", "fingerprint_inputs", "check_lazy_status")}
    outputs = [_output(output) for output in schema.outputs or []]
    return NodeDefinition(
        name=name or schema.node_id,
        run=_runner(cls, hidden_kinds),
        make_instance=lambda: cls,
        inputs=_inputs(cls, hidden_kinds),
        outputs=outputs,
        display_name=schema.display_name or display_name,
        category=schema.category,
        description=schema.description or "",
        python_module=python_module,
        output_node=schema.is_output_node,
        input_is_list=schema.is_input_list,
        not_idempotent=schema.not_idempotent,
        deprecated=schema.is_deprecated,
        experimental=schema.is_experimental,
        fingerprint=_fingerprinter(cls) if overrides["fingerprint_inputs"] else None,
        validate=_validator(cls) if overrides["validate_inputs"] else None,
        validate_takes=parameter_names(cls.validate_inputs) if overrides["validate_inputs"] else frozenset(),
        check_lazy_status=_lazy_checker(cls, hidden_kinds) if overrides["check_lazy_status"] else None,
        extra_info=_extra_info(schema, outputs),
        read_inputs=lambda: _inputs(cls, hidden_kinds),
    )


def _overrides(cls: type, base: type, method: str) -> bool:
    return getattr(cls, method).__func__ is not getattr(base, method).__func__


def _hidden_kinds(schema: Any) -> dict[str, str]:
    """Input name -> hidden kind ("UNIQUE_ID", ...). A hidden value whose name an input already has (an output
    node's ``prompt`` next to a ``prompt`` text input) is renamed, since Atelier passes hidden values by name."""
    taken = {item.id for item in schema.inputs or []}
    return {(hidden.name if hidden.name not in taken else f"{hidden.name} (hidden)"): hidden.value
            for hidden in schema.hidden or []}


def _inputs(cls: type, hidden_kinds: dict[str, str]) -> list[InputSpec]:
    declared = parse_input_types(cls.INPUT_TYPES(include_hidden=False))
    return declared + [InputSpec(name, kind, "hidden") for name, kind in hidden_kinds.items()]


def _output(output: Any) -> OutputSpec:
    kind = output.io_type
    kind = "COMBO" if isinstance(kind, (list, tuple)) else str(kind)  # a Combo output carries its options
    return OutputSpec(kind, output.display_name or kind, bool(output.is_output_list), output.tooltip)


def _extra_info(schema: Any, outputs: list[OutputSpec]) -> dict[str, Any]:
    """The keys ComfyUI's ``GET_NODE_INFO_V1`` always writes for a V3 node."""
    extra: dict[str, Any] = {"output_tooltips": [output.tooltip for output in outputs],
                             "deprecated": schema.is_deprecated, "experimental": schema.is_experimental,
                             "api_node": schema.is_api_node}
    if schema.search_aliases:
        extra["search_aliases"] = list(schema.search_aliases)
    return extra


def _split_hidden(inputs: dict[str, Any], hidden_kinds: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {name: value for name, value in inputs.items() if name not in hidden_kinds}
    hidden = {kind: inputs.get(name) for name, kind in hidden_kinds.items()}
    return values, hidden


def _runner(cls: type, hidden_kinds: dict[str, str]) -> Callable[..., Any]:
    def run(instance: Any, context: Any, **inputs: Any) -> dict[str, Any]:
        values, hidden = _split_hidden(inputs, hidden_kinds)
        clone = cls.PREPARE_CLASS_CLONE(hidden)
        call = clone.EXECUTE_NORMALIZED_ASYNC if inspect.iscoroutinefunction(cls.execute) else clone.EXECUTE_NORMALIZED
        return _result(cls, _resolved(call(**values)))

    return run


def _result(cls: type, output: Any) -> dict[str, Any]:
    """A NodeOutput as the executor's ``{"result": (...), "ui": {key: [...]}}``."""
    if output.expand is not None or output.block_execution is not None:
        raise NotImplementedError(f"{cls.__name__}: Atelier's executor has no node expansion or execution "
                                  "blockers (NodeOutput(expand=...) / block_execution)")
    ui = output.ui.as_dict() if hasattr(output.ui, "as_dict") else output.ui
    ui = {key: list(value) if isinstance(value, tuple) else value for key, value in (ui or {}).items()}
    return {"result": tuple(output.args), "ui": ui or None}


def _fingerprinter(cls: type) -> Callable[..., Any]:
    def fingerprint(folders: Any, **inputs: Any) -> Any:
        return _resolved(cls.PREPARE_CLASS_CLONE(None).fingerprint_inputs(**inputs))

    return fingerprint


def _validator(cls: type) -> Callable[..., Any]:
    def validate(folders: Any, **inputs: Any) -> Any:
        return _resolved(cls.PREPARE_CLASS_CLONE(None).validate_inputs(**inputs))

    return validate


def _lazy_checker(cls: type, hidden_kinds: dict[str, str]) -> Callable[..., list[str]]:
    def check(instance: Any, **inputs: Any) -> list[str]:
        values, hidden = _split_hidden(inputs, hidden_kinds)
        return list(_resolved(cls.PREPARE_CLASS_CLONE(hidden).check_lazy_status(**values)) or [])

    return check
