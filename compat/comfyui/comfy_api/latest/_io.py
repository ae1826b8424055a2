"""ComfyUI's V3 node API (``comfy_api.latest.io``): node classes declare a ``Schema`` and a classmethod ``execute``.

A V3 node is registered as an Atelier ``NodeDefinition`` by ``compat.v3_nodes`` (its inputs re-read from
``define_schema`` on every ``/object_info`` and validation, as ComfyUI does) and runs through Atelier's executor
like any node. The socket and widget types below only describe; what flows between nodes is Atelier's values
(``docs/architecture.md``), which follow ComfyUI's conventions. No torch here: packs import this at start.

Partial stand-ins (see each): ``MultiType`` and ``MatchType`` are validated as the union of their types (a
``MatchType`` output is ``*``); ``Autogrow``, ``DynamicCombo`` and ``DynamicSlot`` raise ``NotImplementedError``
(Atelier's editor and validation have no inputs that change shape), so such a node is skipped alone.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from comfy_api.internal import (
    _ComfyNodeInternal,
    _NodeOutputInternal,
    classproperty,
    first_real_override,
    is_class,
    prune_dict,
)


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


class RemoteOptions:
    """A combo whose options the front end fetches from ``route``."""

    def __init__(self, route: str, refresh_button: bool, control_after_refresh: Literal["first", "last"] = "first",
                 timeout: int | None = None, max_retries: int | None = None, refresh: int | None = None) -> None:
        self.route, self.refresh_button, self.control_after_refresh = route, refresh_button, control_after_refresh
        self.timeout, self.max_retries, self.refresh = timeout, max_retries, refresh

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({"route": self.route, "refresh_button": self.refresh_button,
                           "control_after_refresh": self.control_after_refresh, "timeout": self.timeout,
                           "max_retries": self.max_retries, "refresh": self.refresh})


class _ComfyType:
    Type: Any = Any
    io_type: str = ""


class _IO_V3:  # noqa: N801 (ComfyUI's name)
    """An input or output of some type; ``Parent`` is the type (``io.Int``) it was declared on."""

    Parent: type[_ComfyType]

    @property
    def io_type(self) -> Any:
        return self.Parent.io_type

    @property
    def Type(self) -> Any:  # noqa: N802
        return self.Parent.Type


class Input(_IO_V3):
    """One input of a node: a socket, or a widget (``WidgetInput``)."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None, extra_dict: dict[str, Any] | None = None) -> None:
        self.id, self.display_name, self.optional, self.tooltip, self.lazy = id, display_name, optional, tooltip, lazy
        self.extra_dict = extra_dict if extra_dict is not None else {}

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({"display_name": self.display_name, "optional": self.optional, "tooltip": self.tooltip,
                           "lazy": self.lazy}) | prune_dict(self.extra_dict)

    def get_io_type(self) -> str:
        return self.io_type


class WidgetInput(Input):
    """An input with a widget (a value typed on the node) unless connected."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                 lazy: bool | None = None, default: Any = None, socketless: bool | None = None,
                 widget_type: str | None = None, force_input: bool | None = None,
                 extra_dict: dict[str, Any] | None = None) -> None:
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
        self.default, self.socketless, self.force_input = default, socketless, force_input
        self.widget_type = widget_type

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | prune_dict({"default": self.default, "socketless": self.socketless,
                                               "widgetType": self.widget_type, "forceInput": self.force_input})

    def get_io_type(self) -> str:
        return self.widget_type if self.widget_type is not None else super().get_io_type()


class Output(_IO_V3):
    """One output of a node; without an ``id`` it is named after its position and type."""

    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None,
                 is_output_list: bool = False) -> None:
        self.id, self.display_name, self.tooltip, self.is_output_list = id, display_name, tooltip, is_output_list

    def as_dict(self) -> dict[str, Any]:
        return prune_dict({"display_name": self.display_name, "tooltip": self.tooltip,
                           "is_output_list": self.is_output_list})

    def get_io_type(self) -> Any:
        return self.io_type


class ComfyTypeI(_ComfyType):
    """A type that is only ever an input."""

    class Input(Input):
        pass


class ComfyTypeIO(ComfyTypeI):
    """A type that is an input and an output."""

    class Output(Output):
        pass


def comfytype(io_type: str, **_: Any):
    """Class decorator binding ``io_type`` to a type and giving it its own ``Input``/``Output`` classes."""

    def decorate(cls: type) -> type:
        if not issubclass(cls, _ComfyType):
            cls = type(cls.__name__, (cls, ComfyTypeIO), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        cls.io_type = io_type
        for role in ("Input", "Output"):
            base = cls.__dict__.get(role) or getattr(cls, role, None)
            if base is not None:
                setattr(cls, role, type(base.__name__, (base,), {"Parent": cls, "__module__": cls.__module__,
                                                                 "__qualname__": f"{cls.__qualname__}.{role}"}))
        return cls

    return decorate


def Custom(io_type: str) -> type[ComfyTypeIO]:  # noqa: N802
    """A socket type of a pack's own (``io.Custom("MY_TYPE").Input("x")``)."""

    @comfytype(io_type=io_type)
    class CustomComfyType(ComfyTypeIO):
        pass

    return CustomComfyType


@comfytype(io_type="BOOLEAN")
class Boolean(ComfyTypeIO):
    Type = bool

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: bool | None = None,
                     label_on: str | None = None, label_off: str | None = None, socketless: bool | None = None,
                     force_input: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.label_on, self.label_off = label_on, label_off

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"label_on": self.label_on, "label_off": self.label_off})


def _display(mode: NumberDisplay | str | None) -> str | None:
    return mode.value if isinstance(mode, NumberDisplay) else mode


@comfytype(io_type="INT")
class Int(ComfyTypeIO):
    Type = int

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: int | None = None,
                     min: int | None = None, max: int | None = None, step: int | None = None,
                     control_after_generate: bool | None = None, display_mode: NumberDisplay | None = None,
                     socketless: bool | None = None, force_input: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.min, self.max, self.step = min, max, step
            self.control_after_generate, self.display_mode = control_after_generate, display_mode

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"min": self.min, "max": self.max, "step": self.step,
                                                   "control_after_generate": self.control_after_generate,
                                                   "display": _display(self.display_mode)})


@comfytype(io_type="FLOAT")
class Float(ComfyTypeIO):
    Type = float

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: float | None = None,
                     min: float | None = None, max: float | None = None, step: float | None = None,
                     round: float | None = None, display_mode: NumberDisplay | None = None,
                     socketless: bool | None = None, force_input: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.min, self.max, self.step, self.round, self.display_mode = min, max, step, round, display_mode

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"min": self.min, "max": self.max, "step": self.step,
                                                   "round": self.round, "display": _display(self.display_mode)})


@comfytype(io_type="STRING")
class String(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, multiline: bool = False,
                     placeholder: str | None = None, default: str | None = None, dynamic_prompts: bool | None = None,
                     socketless: bool | None = None, force_input: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"multiline": self.multiline, "placeholder": self.placeholder,
                                                   "dynamicPrompts": self.dynamic_prompts})


@comfytype(io_type="COMBO")
class Combo(ComfyTypeIO):
    """A choice among strings (a list, an ``Enum``, or a folder's files listed inside ``define_schema``)."""

    Type = str

    class Input(WidgetInput):
        def __init__(self, id: str, options: list[str] | list[int] | type[Enum] | None = None,
                     display_name: str | None = None, optional: bool = False, tooltip: str | None = None,
                     lazy: bool | None = None, default: str | int | Enum | None = None,
                     control_after_generate: bool | None = None, upload: UploadType | None = None,
                     image_folder: FolderType | None = None, remote: RemoteOptions | None = None,
                     socketless: bool | None = None) -> None:
            if isinstance(options, type) and issubclass(options, Enum):
                options = [member.value for member in options]
            if isinstance(default, Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless)
            self.multiselect = False
            self.options, self.control_after_generate = options, control_after_generate
            self.upload, self.image_folder, self.remote = upload, image_folder, remote

        def as_dict(self) -> dict[str, Any]:
            upload = {self.upload.value: True} if self.upload is not None else {}
            return super().as_dict() | prune_dict({
                "multiselect": self.multiselect, "options": self.options,
                "control_after_generate": self.control_after_generate, **upload,
                "image_folder": self.image_folder.value if self.image_folder else None,
                "remote": self.remote.as_dict() if self.remote else None})

    class Output(Output):
        def __init__(self, id: str | None = None, display_name: str | None = None, options: list[str] | None = None,
                     tooltip: str | None = None, is_output_list: bool = False) -> None:
            super().__init__(id, display_name, tooltip, is_output_list)
            self.options = options if options is not None else []

        @property
        def io_type(self) -> Any:
            return self.options


@comfytype(io_type="COMBO")
class MultiCombo(ComfyTypeI):
    """Several choices at once. Partial: Atelier's validation checks one choice, so a list value is refused."""

    Type = list

    class Input(Combo.Input):
        def __init__(self, id: str, options: list[str], display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: list[str] | None = None,
                     placeholder: str | None = None, chip: bool | None = None,
                     control_after_generate: bool | None = None, socketless: bool | None = None) -> None:
            super().__init__(id, options, display_name, optional, tooltip, lazy, default, control_after_generate,
                             socketless=socketless)
            self.multiselect, self.placeholder, self.chip = True, placeholder, chip

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | prune_dict({"multi_select": self.multiselect, "placeholder": self.placeholder,
                                                   "chip": self.chip})


def _socket_type(name: str, io_type: str) -> type[ComfyTypeIO]:
    """A type that is only a socket (``io.Image``, ``io.Model``, ...)."""
    return comfytype(io_type)(type(name, (ComfyTypeIO,), {"__module__": __name__, "__qualname__": name}))


Image = _socket_type("Image", "IMAGE")
Mask = _socket_type("Mask", "MASK")
Latent = _socket_type("Latent", "LATENT")
Conditioning = _socket_type("Conditioning", "CONDITIONING")
Sampler = _socket_type("Sampler", "SAMPLER")
Sigmas = _socket_type("Sigmas", "SIGMAS")
Noise = _socket_type("Noise", "NOISE")
Guider = _socket_type("Guider", "GUIDER")
Clip = _socket_type("Clip", "CLIP")
ControlNet = _socket_type("ControlNet", "CONTROL_NET")
Vae = _socket_type("Vae", "VAE")
Model = _socket_type("Model", "MODEL")
ClipVision = _socket_type("ClipVision", "CLIP_VISION")
ClipVisionOutput = _socket_type("ClipVisionOutput", "CLIP_VISION_OUTPUT")
StyleModel = _socket_type("StyleModel", "STYLE_MODEL")
Gligen = _socket_type("Gligen", "GLIGEN")
UpscaleModel = _socket_type("UpscaleModel", "UPSCALE_MODEL")
LatentUpscaleModel = _socket_type("LatentUpscaleModel", "LATENT_UPSCALE_MODEL")
Audio = _socket_type("Audio", "AUDIO")
Video = _socket_type("Video", "VIDEO")
SVG = _socket_type("SVG", "SVG")
LoraModel = _socket_type("LoraModel", "LORA_MODEL")
LossMap = _socket_type("LossMap", "LOSS_MAP")
Voxel = _socket_type("Voxel", "VOXEL")
Mesh = _socket_type("Mesh", "MESH")
Hooks = _socket_type("Hooks", "HOOKS")
HookKeyframes = _socket_type("HookKeyframes", "HOOK_KEYFRAMES")
TimestepsRange = _socket_type("TimestepsRange", "TIMESTEPS_RANGE")
LatentOperation = _socket_type("LatentOperation", "LATENT_OPERATION")
FlowControl = _socket_type("FlowControl", "FLOW_CONTROL")
Accumulation = _socket_type("Accumulation", "ACCUMULATION")
Load3DCamera = _socket_type("Load3DCamera", "LOAD3D_CAMERA")
Load3D = _socket_type("Load3D", "LOAD_3D")
Load3DAnimation = _socket_type("Load3DAnimation", "LOAD_3D_ANIMATION")
Photomaker = _socket_type("Photomaker", "PHOTOMAKER")
Point = _socket_type("Point", "POINT")
FaceAnalysis = _socket_type("FaceAnalysis", "FACE_ANALYSIS")
BBOX = _socket_type("BBOX", "BBOX")
SEGS = _socket_type("SEGS", "SEGS")
MODEL_PATCH = _socket_type("MODEL_PATCH", "MODEL_PATCH")
AudioEncoder = _socket_type("AudioEncoder", "AUDIO_ENCODER")
AudioEncoderOutput = _socket_type("AudioEncoderOutput", "AUDIO_ENCODER_OUTPUT")
WanCameraEmbedding = _socket_type("WanCameraEmbedding", "WAN_CAMERA_EMBEDDING")
AnyType = _socket_type("AnyType", "*")


@comfytype(io_type="WEBCAM")
class Webcam(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None, default: str | None = None,
                     socketless: bool | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless)


def _io_type_of(kind: Any) -> str:
    return (kind if is_class(kind) else type(kind)).io_type


@comfytype(io_type="COMFY_MULTITYPED_V3")
class MultiType(ComfyTypeI):
    """An input accepting several types; given an ``Input`` as ``id``, that input's widget is shown. Partial: a
    value typed into such a widget is refused by Atelier's validation (only links of the listed types pass)."""

    class Input(Input):
        def __init__(self, id: str | Input, types: list, display_name: str | None = None, optional: bool = False,
                     tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None) -> None:
            self.input_override: Input | None = None
            if isinstance(id, Input):
                self.input_override = copy.copy(id)
                optional = optional or id.optional
                tooltip = id.tooltip if id.tooltip is not None else tooltip
                display_name = id.display_name if id.display_name is not None else display_name
                lazy = id.lazy if id.lazy is not None else lazy
                if isinstance(self.input_override, WidgetInput):
                    self.input_override.widget_type = self.input_override.get_io_type()
                id = id.id
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.types = list(types)

        def get_io_type(self) -> str:
            names = [_io_type_of(kind) for kind in self.types]
            if self.input_override is not None:
                names.insert(0, self.input_override.get_io_type())
            return ",".join(dict.fromkeys(names))

        def as_dict(self) -> dict[str, Any]:
            own = super().as_dict()
            return self.input_override.as_dict() | own if self.input_override is not None else own


@comfytype(io_type="COMFY_MATCHTYPE_V3")
class MatchType(ComfyTypeIO):
    """Inputs and outputs whose type is whichever of the allowed types is connected. Partial: Atelier checks an
    input against the union of the allowed types and declares the output ``*`` (no type is matched across them)."""

    class Template:
        def __init__(self, template_id: str, allowed_types: Any = AnyType) -> None:
            self.template_id = template_id
            self.allowed_types = list(allowed_types) if isinstance(allowed_types, (list, tuple)) else [allowed_types]

        def io_types(self) -> str:
            return ",".join(dict.fromkeys(_io_type_of(kind) for kind in self.allowed_types))

        def as_dict(self) -> dict[str, Any]:
            return {"template_id": self.template_id, "allowed_types": self.io_types()}

    class Input(Input):
        def __init__(self, id: str, template: MatchType.Template, display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict[str, Any] | None = None) -> None:
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self.template = template

        def get_io_type(self) -> str:
            return self.template.io_types()

        def as_dict(self) -> dict[str, Any]:
            return super().as_dict() | {"template": self.template.as_dict()}

    class Output(Output):
        def __init__(self, template: MatchType.Template | None = None, id: str | None = None,
                     display_name: str | None = None, tooltip: str | None = None,
                     is_output_list: bool = False) -> None:
            if isinstance(template, str):  # ComfyUI 0.3.64 took the id first
                template, id = id, template
            super().__init__(id, display_name, tooltip, is_output_list)
            self.template = template

        @property
        def io_type(self) -> str:
            return "*"


class _ShapeChanging:
    """An input that adds or removes inputs as the user edits the node; Atelier has none."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__qualname__}: Atelier's editor and validation have no inputs that "
                                  f"change the node's shape (Autogrow, DynamicCombo, DynamicSlot)")


class Autogrow(ComfyTypeI):
    Input = type("Input", (_ShapeChanging,), {"__qualname__": "Autogrow.Input"})
    TemplateNames = type("TemplateNames", (_ShapeChanging,), {"__qualname__": "Autogrow.TemplateNames"})
    TemplatePrefix = type("TemplatePrefix", (_ShapeChanging,), {"__qualname__": "Autogrow.TemplatePrefix"})


AutogrowDynamic = Autogrow


class DynamicCombo(ComfyTypeI):
    Input = type("Input", (_ShapeChanging,), {"__qualname__": "DynamicCombo.Input"})
    Option = type("Option", (_ShapeChanging,), {"__qualname__": "DynamicCombo.Option"})


class DynamicSlot(ComfyTypeI):
    Input = type("Input", (_ShapeChanging,), {"__qualname__": "DynamicSlot.Input"})


class Hidden(str, Enum):
    """Values the executor supplies to a node (read in ``execute`` as ``cls.hidden.unique_id``, ...)."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """``cls.hidden`` while a V3 node runs: its hidden values by name, None for those it did not ask for."""

    def __init__(self, unique_id: str | None = None, prompt: Any = None, extra_pnginfo: Any = None,
                 dynprompt: Any = None, auth_token_comfy_org: str | None = None,
                 api_key_comfy_org: str | None = None, **_: Any) -> None:
        self.unique_id, self.prompt, self.extra_pnginfo, self.dynprompt = unique_id, prompt, extra_pnginfo, dynprompt
        self.auth_token_comfy_org, self.api_key_comfy_org = auth_token_comfy_org, api_key_comfy_org

    def __getattr__(self, key: str) -> None:
        return None

    @classmethod
    def from_dict(cls, values: dict | None) -> HiddenHolder:
        """From ``{Hidden.x or its value "X": value}``."""
        values = {Hidden(key).name: value for key, value in (values or {}).items()}
        return cls(**values)


@dataclass
class Schema:
    """A V3 node's declaration, returned by ``define_schema``."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list[Input] | None = None
    outputs: list[Output] | None = None
    hidden: list[Hidden] | None = None
    description: str = ""
    search_aliases: list[str] | None = None
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False  # partial: Atelier's executor expands no graphs (NodeOutput(expand=...) fails)
    accept_all_inputs: bool = False  # partial: Atelier's validation passes only declared inputs

    def validate(self) -> None:
        """Raise ValueError when input or output ids repeat."""
        inputs = [i.id for i in self.inputs or []]
        outputs = [o.id for o in self.outputs or []]
        issues = [f"{kind} ids must be unique, but {[name for name, n in Counter(ids).items() if n > 1]} are not."
                  for kind, ids in (("Input", inputs), ("Output", outputs)) if len(set(ids)) != len(ids)]
        if set(inputs) & set(outputs):
            issues.append(f"Ids must be unique between inputs and outputs, but {set(inputs) & set(outputs)} are not.")
        if issues:
            raise ValueError("\n".join(issues))

    def finalize(self) -> None:
        """Add the hidden values API and output nodes always get, and ids to outputs without one."""
        wanted = list(self.hidden or [])
        if self.is_api_node:
            wanted += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
        if self.is_output_node:
            wanted += [Hidden.prompt, Hidden.extra_pnginfo]
        self.hidden = list(dict.fromkeys(wanted)) if wanted or self.hidden is not None else None
        for index, output in enumerate(self.outputs or []):
            if output.id is None:
                output.id = f"_{index}_{output.io_type}_"

    def v1_input_types(self, include_hidden: bool = True) -> dict[str, dict[str, Any]]:
        """The inputs as a V1 ``INPUT_TYPES`` dict (ComfyUI's ``get_v1_info``)."""
        sections: dict[str, dict[str, Any]] = {"required": {}}
        for item in self.inputs or []:
            options = item.as_dict()
            options.pop("optional", None)
            sections.setdefault("optional" if item.optional else "required", {})[item.id] = (item.get_io_type(),
                                                                                             options)
        if include_hidden and self.hidden:
            sections["hidden"] = {hidden.name: (hidden.value,) for hidden in self.hidden}
        return sections


class NodeOutput(_NodeOutputInternal):
    """What ``execute`` returns: the output values in order, and optionally ``ui`` (a ``ui.*`` object or a dict)."""

    def __init__(self, *args: Any, ui: Any = None, expand: dict | None = None,
                 block_execution: str | None = None) -> None:
        self.args, self.ui, self.expand, self.block_execution = args, ui, expand, block_execution

    @property
    def result(self) -> tuple | None:
        return self.args if self.args else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeOutput:
        """From a V1 return value ``{"result": (...), "ui": {...}}``."""
        return cls(*tuple(data.get("result") or ()), ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index: int) -> Any:
        return self.args[index]


class _UIOutput(ABC):
    """A ``ui`` value of a NodeOutput (``ui.PreviewImage``, ...)."""

    @abstractmethod
    def as_dict(self) -> dict:
        ...


def _normalised(cls: type, value: Any) -> NodeOutput:
    if value is None:
        return NodeOutput()
    if isinstance(value, NodeOutput):
        return value
    if isinstance(value, tuple):
        return NodeOutput(*value)
    if isinstance(value, dict):
        return NodeOutput.from_dict(value)
    raise TypeError(f"{cls.__name__}.execute returned {type(value).__name__}, expected io.NodeOutput")


class ComfyNode(_ComfyNodeInternal):
    """Base class of V3 nodes: override the classmethods ``define_schema`` and ``execute`` (sync or async), and
    optionally ``validate_inputs``, ``fingerprint_inputs`` and ``check_lazy_status``."""

    RELATIVE_PYTHON_MODULE: str | None = None  # set by the loader
    SCHEMA: Schema | None = None
    hidden: HiddenHolder | None = None  # the running node's hidden values (on the class clone it runs as)

    @classmethod
    @abstractmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        """ComfyUI's ``VALIDATE_INPUTS``: True, or a message rejecting the inputs."""
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        """ComfyUI's ``IS_CHANGED``: a value that changes when the node must run again."""
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        """Names of lazy inputs still needed; unevaluated inputs are None."""
        return [name for name, value in kwargs.items() if value is None]

    @classmethod
    def GET_BASE_CLASS(cls) -> type:  # noqa: N802
        return ComfyNode

    @classmethod
    def VALIDATE_CLASS(cls) -> None:  # noqa: N802
        for name in ("define_schema", "execute"):
            if first_real_override(cls, name) is None:
                raise TypeError(f"No {name} function was defined for node class {cls.__name__}.")

    @classmethod
    def FINALIZE_SCHEMA(cls) -> Schema:  # noqa: N802
        schema = cls.define_schema()
        schema.finalize()
        return schema

    @classmethod
    def GET_SCHEMA(cls) -> Schema:  # noqa: N802
        """``define_schema``'s answer, finalized and checked (called on every ``/object_info``)."""
        cls.VALIDATE_CLASS()
        schema = cls.FINALIZE_SCHEMA()
        schema.validate()
        cls.SCHEMA = schema
        return schema

    @classmethod
    def INPUT_TYPES(cls, include_hidden: bool = True, return_schema: bool = False) -> Any:  # noqa: N802
        schema = cls.FINALIZE_SCHEMA()
        inputs = schema.v1_input_types(include_hidden)
        return (inputs, schema) if return_schema else inputs

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict[str, Any]:  # noqa: N802
        """This node's ``/object_info`` entry, as the running Atelier serves it."""
        from compat.host import runtime
        from compat.v3_nodes import definition_from_v3

        return definition_from_v3(cls, cls.RELATIVE_PYTHON_MODULE or "nodes").object_info(runtime().folders)

    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden_inputs: dict | None) -> type[ComfyNode]:  # noqa: N802
        """A subclass to run as, with ``hidden`` set, so a node cannot change its own class while running."""
        return type(f"{cls.__name__}Clone", (cls,), {"hidden": HiddenHolder.from_dict(hidden_inputs),
                                                      "__module__": cls.__module__})

    @classproperty
    def FUNCTION(cls) -> str:  # noqa: N802
        return "EXECUTE_NORMALIZED_ASYNC" if inspect.iscoroutinefunction(cls.execute) else "EXECUTE_NORMALIZED"

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args: Any, **kwargs: Any) -> NodeOutput:  # noqa: N802
        return _normalised(cls, cls.execute(*args, **kwargs))

    @classmethod
    async def EXECUTE_NORMALIZED_ASYNC(cls, *args: Any, **kwargs: Any) -> NodeOutput:  # noqa: N802
        return _normalised(cls, await cls.execute(*args, **kwargs))

    @classproperty
    def RETURN_TYPES(cls) -> tuple:  # noqa: N802
        return tuple(output.io_type for output in cls.GET_SCHEMA().outputs or [])

    @classproperty
    def RETURN_NAMES(cls) -> tuple:  # noqa: N802
        return tuple(output.display_name or output.io_type for output in cls.GET_SCHEMA().outputs or [])

    @classproperty
    def OUTPUT_IS_LIST(cls) -> tuple:  # noqa: N802
        return tuple(output.is_output_list for output in cls.GET_SCHEMA().outputs or [])

    @classproperty
    def OUTPUT_NODE(cls) -> bool:  # noqa: N802
        return cls.GET_SCHEMA().is_output_node

    @classproperty
    def CATEGORY(cls) -> str:  # noqa: N802
        return cls.GET_SCHEMA().category

    @classproperty
    def DESCRIPTION(cls) -> str:  # noqa: N802
        return cls.GET_SCHEMA().description


ComfyNodeV3 = ComfyNode

__all__ = [
    "FolderType", "UploadType", "RemoteOptions", "NumberDisplay", "comfytype", "Custom", "Input", "WidgetInput",
    "Output", "ComfyTypeI", "ComfyTypeIO", "Boolean", "Int", "Float", "String", "Combo", "MultiCombo", "Image",
    "WanCameraEmbedding", "Webcam", "Mask", "Latent", "Conditioning", "Sampler", "Sigmas", "Noise", "Guider",
    "Clip", "ControlNet", "Vae", "Model", "ClipVision", "ClipVisionOutput", "AudioEncoder", "AudioEncoderOutput",
    "StyleModel", "Gligen", "UpscaleModel", "LatentUpscaleModel", "Audio", "Video", "SVG", "LoraModel", "LossMap",
    "Voxel", "Mesh", "Hooks", "HookKeyframes", "TimestepsRange", "LatentOperation", "FlowControl", "Accumulation",
    "Load3DCamera", "Load3D", "Load3DAnimation", "Photomaker", "Point", "FaceAnalysis", "BBOX", "SEGS", "AnyType",
    "MODEL_PATCH", "MultiType", "MatchType", "Autogrow", "DynamicCombo", "DynamicSlot", "HiddenHolder", "Hidden",
    "Schema", "ComfyNode", "NodeOutput",
]
