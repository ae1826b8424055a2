"""Atelier's node types as ComfyUI V1 classes (``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION`` and a method of that
name), so packs can call them (``nodes.LoraLoader().load_lora(model, clip, name, 1.0, 1.0)``) and subclass them.

One mechanism serves every node: the class is built from the registry's ``NodeDefinition`` and its method runs
that definition, inside the running node's context (``core.context.current_context()``) or, called outside a
prompt, a context made from the bound runtime. Classes are built when first asked for and kept per runtime in
``compat.host.host().extras``. ComfyUI's names (method, argument order, module, class name) come from
``compat.comfy_node_names``.
"""

from __future__ import annotations

import inspect
import random
import string
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import compat.host
from compat.comfy_node_names import COMFY_NAMES, ComfyName, classes_of_module, comfy_name
from core.context import ExecutionContext, InterruptFlag, current_context, enter_context, leave_context
from core.definition import NodeDefinition

CACHE_KEY = "v1_classes"


class V1Node:
    """Base of every class this module builds; ``DEFINITION`` is the Atelier node it views."""

    DEFINITION: NodeDefinition

    def atelier_node(self) -> Any:
        """The Atelier node object the method runs (made on first use: subclasses' ``__init__`` need not call ours)."""
        node = self.__dict__.get("_atelier_node")
        if node is None:
            node = self.__dict__["_atelier_node"] = self.DEFINITION.make_instance()
        return node


class SaveImageNode(V1Node):
    """ComfyUI's SaveImage: packs subclass it and set ``output_dir``, ``type``, ``prefix_append`` and
    ``compress_level`` in ``__init__`` (PreviewImage does the same), then call ``save_images``."""

    def __init__(self) -> None:
        folders = compat.host.runtime().folders
        self.output_dir = str(folders.output_dir)
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    def save_images(self, images: Any, filename_prefix: str = "ComfyUI", prompt: Any = None,
                    extra_pnginfo: Any = None) -> dict[str, Any]:
        """Atelier's ``nodes.builtin.image.save_images`` into this object's folder, as ComfyUI's ``{"ui": ...}``."""
        from nodes.builtin.image import save_images

        saved = save_images(images, Path(self.output_dir), filename_prefix + self.prefix_append, self.type, prompt,
                            extra_pnginfo, self.compress_level)
        return {"ui": {"images": saved}}


class PreviewImageNode(SaveImageNode):
    def __init__(self) -> None:
        self.output_dir = str(compat.host.runtime().folders.temp_dir)
        self.type = "temp"
        self.prefix_append = "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        self.compress_level = 1


SPECIAL_BASES: dict[str, type[V1Node]] = {"SaveImage": SaveImageNode, "PreviewImage": PreviewImageNode}


def node_class(name: str) -> type | None:
    """The V1 class of node ``name`` for the bound runtime: the plug-in's own class for a ComfyUI plug-in node, a
    view built here for any other node, a stand-in for a ComfyUI core node Atelier lacks, None for an unknown
    name."""
    cache: dict[str, type] = compat.host.host().extras.setdefault(CACHE_KEY, {})
    if name not in cache:
        definition = compat.host.runtime().registry.get(name)
        if definition is not None:
            own = definition.make_instance
            cache[name] = own if _is_v1_class(own) else build_class(definition)
        elif name in COMFY_NAMES:
            cache[name] = stand_in_class(name)
        else:
            return None
    return cache[name]


def _is_v1_class(candidate: Any) -> bool:
    return inspect.isclass(candidate) and hasattr(candidate, "INPUT_TYPES") and hasattr(candidate, "FUNCTION")


def build_class(definition: NodeDefinition) -> type:
    """A V1 class whose method runs ``definition`` (ComfyUI's method name, argument order and return shape)."""
    comfy = comfy_name(definition.name)
    attributes: dict[str, Any] = {
        "DEFINITION": definition,
        "INPUT_TYPES": classmethod(_input_types),
        "RETURN_TYPES": tuple(out.type for out in definition.outputs),
        "OUTPUT_NODE": definition.output_node,
        "CATEGORY": definition.category,
        "DESCRIPTION": definition.description,
        "FUNCTION": comfy.function,
        "INPUT_IS_LIST": definition.input_is_list,
        "NOT_IDEMPOTENT": definition.not_idempotent,
        "__module__": comfy.module,
        "__doc__": definition.description or f"Atelier's {definition.name} node as ComfyUI's V1 class.",
    }
    # Like ComfyUI's own classes, these are set only where they say something: a subclass that adds outputs to
    # RETURN_TYPES would otherwise inherit lists one short.
    if any(out.name and out.name != out.type for out in definition.outputs):
        attributes["RETURN_NAMES"] = tuple(out.name or out.type for out in definition.outputs)
    if any(out.is_list for out in definition.outputs):
        attributes["OUTPUT_IS_LIST"] = tuple(out.is_list for out in definition.outputs)
    if definition.name not in SPECIAL_BASES:
        attributes[comfy.function] = _method(definition, comfy)
    if comfy.v3:
        attributes["execute"] = classmethod(_v3_execute(definition, comfy))
    if definition.fingerprint is not None:
        attributes["IS_CHANGED"] = classmethod(_is_changed(definition))
    attributes.update(_combo_attributes(definition, comfy))
    base = SPECIAL_BASES.get(definition.name, V1Node)
    return type(comfy.class_name or definition.name, (base,), attributes)


def stand_in_class(name: str) -> type:
    """A ComfyUI core node Atelier does not have: importable (packs import it at load), failing clearly when run."""
    comfy = comfy_name(name)

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Atelier has no {name} node (ComfyUI's {comfy.module}."
                                  f"{comfy.class_name or name}); this plug-in needs it")

    attributes: dict[str, Any] = {
        "INPUT_TYPES": classmethod(lambda cls: {"required": {}}), "RETURN_TYPES": (), "FUNCTION": comfy.function,
        "CATEGORY": "unavailable", comfy.function: missing, "__module__": comfy.module,
        "__doc__": f"Stand-in: Atelier has no {name} node.",
    }
    if comfy.v3:
        attributes["execute"] = classmethod(missing)
    return type(comfy.class_name or name, (), attributes)


def _input_types(cls: type[V1Node]) -> dict[str, Any]:
    """ComfyUI's ``INPUT_TYPES()``: the definition's inputs with the choices the bound runtime's folders hold now."""
    return cls.DEFINITION.object_info(compat.host.runtime().folders)["input"]


def _combo_attributes(definition: NodeDefinition, comfy: ComfyName) -> dict[str, list[str]]:
    """Class attributes ComfyUI keeps its combo lists in (``ImageScale.upscale_methods``)."""
    folders = compat.host.runtime().folders
    found = {}
    for attribute, input_name in comfy.attributes.items():
        spec = definition.input(input_name)
        if spec is not None:
            found[attribute] = spec.current_choices(folders)
    return found


def _is_changed(definition: NodeDefinition) -> Callable[..., Any]:
    def is_changed(cls: type, **inputs: Any) -> Any:
        return definition.fingerprint(compat.host.runtime().folders, **inputs)

    return is_changed


def _method(definition: NodeDefinition, comfy: ComfyName) -> Callable[..., Any]:
    def run(self: V1Node, *args: Any, **kwargs: Any) -> Any:
        inputs = bind_inputs(definition, comfy, args, kwargs)
        return comfy_result(definition, run_definition(definition, self.atelier_node(), inputs))

    run.__name__ = comfy.function
    run.__doc__ = f"Runs Atelier's {definition.name} node (ComfyUI's {definition.name}.{comfy.function})."
    return run


def _v3_execute(definition: NodeDefinition, comfy: ComfyName) -> Callable[..., Any]:
    def execute(cls: type, *args: Any, **kwargs: Any) -> Any:
        inputs = bind_inputs(definition, comfy, args, kwargs)
        outputs, ui = split_result(run_definition(definition, definition.make_instance(), inputs))
        return node_output(outputs, ui)

    return execute


def bind_inputs(definition: NodeDefinition, comfy: ComfyName, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The definition's inputs from a call in ComfyUI's argument order. ComfyUI parameters Atelier's node does not
    have (``VAEDecodeTiled``'s temporal sizes) are accepted and dropped; hidden inputs not given are None and a
    widget not given takes its declared default."""
    order = list(comfy.params) if comfy.params is not None else [spec.name for spec in definition.inputs]
    if len(args) > len(order):
        raise TypeError(f"{definition.name}.{comfy.function}() takes {len(order)} arguments, {len(args)} given")
    values = dict(zip(order, args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise TypeError(f"{definition.name}.{comfy.function}() got multiple values for {name!r}")
        values[name] = value
    unknown = sorted(set(values) - {spec.name for spec in definition.inputs} - set(order))
    if unknown:
        raise TypeError(f"{definition.name}.{comfy.function}() got unexpected arguments {', '.join(unknown)}")
    inputs = {spec.name: values[spec.name] for spec in definition.inputs if spec.name in values}
    for spec in definition.inputs:
        if spec.name in inputs or spec.section == "optional":
            continue
        if spec.section == "hidden":
            inputs[spec.name] = None
        elif "default" in spec.options:
            inputs[spec.name] = spec.options["default"]
        else:
            raise TypeError(f"{definition.name}.{comfy.function}() missing argument {spec.name!r}")
    return inputs


def run_definition(definition: NodeDefinition, node: Any, inputs: dict[str, Any]) -> Any:
    """Run the node with the running node's context, or outside a prompt with one made from the bound runtime."""
    context = current_context()
    if context is not None:
        return definition.run(node, context, **inputs)
    runtime = compat.host.runtime()
    context = ExecutionContext("", "", runtime.folders, runtime.models, runtime.devices, InterruptFlag())
    token = enter_context(context)
    try:
        return definition.run(node, context, **inputs)
    finally:
        leave_context(token)


def split_result(result: Any) -> tuple[tuple, dict[str, Any]]:
    """(outputs, ui) of whatever a node returned: a tuple, ``nodes.api.NodeResult`` or ComfyUI's dict."""
    if hasattr(result, "outputs") and hasattr(result, "ui"):
        return tuple(result.outputs), dict(result.ui or {})
    if isinstance(result, dict):
        return tuple(result.get("result", ()) or ()), dict(result.get("ui") or {})
    return tuple(result or ()), {}


def comfy_result(definition: NodeDefinition, result: Any) -> Any:
    """ComfyUI's return shape: an output node with UI data returns ``{"ui": ..., "result": ...}``, every other node
    the tuple of its outputs (what packs unpack: ``model, clip = LoraLoader().load_lora(...)``)."""
    outputs, ui = split_result(result)
    if definition.output_node and ui:
        return {"ui": ui, "result": outputs}
    return outputs


def node_output(outputs: tuple, ui: dict[str, Any]) -> Any:
    """ComfyUI's V3 ``io.NodeOutput`` where the V3 API is present, else the outputs tuple (it indexes the same)."""
    try:
        from comfy_api.latest import io
    except ImportError:
        return outputs
    return io.NodeOutput(*outputs, ui=ui or None)


class ClassMapping(Mapping[str, type]):
    """A read-only view ``ComfyUI class name -> V1 class`` over node ids, resolved against the bound runtime
    (``comfy_extras.nodes_*.NODE_CLASS_MAPPINGS``); only nodes the registry has are listed."""

    def __init__(self, classes: dict[str, str]) -> None:
        self._classes = dict(classes)

    def _present(self) -> dict[str, str]:
        registry = compat.host.runtime().registry
        return {name: node for name, node in self._classes.items() if node in registry}

    def __getitem__(self, name: str) -> type:
        node = self._present()[name]
        found = node_class(node)
        assert found is not None
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._present())

    def __len__(self) -> int:
        return len(self._present())


class ExtrasModule:
    """What a ``comfy_extras.nodes_*`` module answers: ComfyUI's class names there as V1 classes (views of the
    registry's nodes, or stand-ins for nodes Atelier lacks) and ``NODE_CLASS_MAPPINGS`` keyed by node id."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.classes = classes_of_module(module)  # class name -> node id

    def mappings(self) -> Mapping[str, type]:
        return ClassMapping({node: node for node in self.classes.values()})

    def attribute(self, name: str) -> Any:
        if name in self.classes:
            return node_class(self.classes[name])
        raise AttributeError(f"module {self.module!r} has no attribute {name!r}")
