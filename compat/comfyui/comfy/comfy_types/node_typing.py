"""ComfyUI's ``comfy.comfy_types.node_typing``: the socket type names (``IO``) and the typing helpers V1 node
authors annotate with. Pure declarations: Atelier's registry reads these nodes through its ComfyUI V1 adapter."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, Literal, NotRequired, TypedDict


class StrEnum(str, Enum):
    """An enum whose members are their string values (``str(IO.IMAGE) == "IMAGE"``)."""

    def __str__(self) -> str:
        return self.value


class IO(StrEnum):
    """Socket type names. ``ANY`` ("*") matches every type; ``NUMBER`` and ``PRIMITIVE`` are comma-separated
    unions that match each of their members."""

    STRING = "STRING"
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    BOOLEAN = "BOOLEAN"
    INT = "INT"
    FLOAT = "FLOAT"
    COMBO = "COMBO"
    CONDITIONING = "CONDITIONING"
    SAMPLER = "SAMPLER"
    SIGMAS = "SIGMAS"
    GUIDER = "GUIDER"
    NOISE = "NOISE"
    CLIP = "CLIP"
    CONTROL_NET = "CONTROL_NET"
    VAE = "VAE"
    MODEL = "MODEL"
    LORA_MODEL = "LORA_MODEL"
    LOSS_MAP = "LOSS_MAP"
    CLIP_VISION = "CLIP_VISION"
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
    STYLE_MODEL = "STYLE_MODEL"
    GLIGEN = "GLIGEN"
    UPSCALE_MODEL = "UPSCALE_MODEL"
    AUDIO = "AUDIO"
    WEBCAM = "WEBCAM"
    POINT = "POINT"
    FACE_ANALYSIS = "FACE_ANALYSIS"
    BBOX = "BBOX"
    SEGS = "SEGS"
    VIDEO = "VIDEO"
    ANY = "*"
    NUMBER = "FLOAT,INT"
    PRIMITIVE = "STRING,FLOAT,INT,BOOLEAN"

    def __ne__(self, value: object) -> bool:
        """"Not compatible": ComfyUI's type check is ``input_type != output_type``, so ``*`` is equal to every
        type and a union is equal to each of its members."""
        if self == "*" or value == "*":
            return False
        if not isinstance(value, str):
            return True
        mine, theirs = frozenset(self.split(",")), frozenset(value.split(","))
        return not (mine <= theirs or theirs <= mine)

    __hash__ = StrEnum.__hash__


class RemoteInputOptions(TypedDict):
    route: str
    refresh_button: NotRequired[bool]
    control_after_refresh: NotRequired[Literal["first", "last"]]
    timeout: NotRequired[int]
    max_retries: NotRequired[int]
    refresh: NotRequired[int]


class MultiSelectOptions(TypedDict):
    placeholder: NotRequired[str]
    chip: NotRequired[bool]


class InputTypeOptions(TypedDict, total=False):
    """The options dict of one input (``("INT", {"default": 1, "min": 0})``)."""

    default: Any
    defaultInput: bool
    forceInput: bool
    lazy: bool
    rawLink: bool
    tooltip: str
    min: float
    max: float
    step: float
    round: float
    label_on: str
    label_off: str
    multiline: bool
    placeholder: str
    dynamicPrompts: bool
    image_upload: bool
    image_folder: Literal["input", "output", "temp"]
    remote: RemoteInputOptions
    control_after_generate: bool
    options: list[str]
    multi_select: MultiSelectOptions
    display: Literal["number", "slider", "color"]
    widgetType: str


class HiddenInputTypeDict(TypedDict):
    node_id: NotRequired[Literal["UNIQUE_ID"]]
    unique_id: NotRequired[Literal["UNIQUE_ID"]]
    prompt: NotRequired[Literal["PROMPT"]]
    extra_pnginfo: NotRequired[Literal["EXTRA_PNGINFO"]]
    dynprompt: NotRequired[Literal["DYNPROMPT"]]


class InputTypeDict(TypedDict):
    """What ``INPUT_TYPES`` returns."""

    required: NotRequired[dict[str, tuple[IO, InputTypeOptions]]]
    optional: NotRequired[dict[str, tuple[IO, InputTypeOptions]]]
    hidden: NotRequired[HiddenInputTypeDict]


class ComfyNodeABC(ABC):
    """The attributes a ComfyUI V1 node class declares (for type checkers; nothing is enforced at run time)."""

    DESCRIPTION: str
    CATEGORY: str
    EXPERIMENTAL: bool
    DEPRECATED: bool
    API_NODE: bool | None
    OUTPUT_NODE: bool
    INPUT_IS_LIST: bool
    OUTPUT_IS_LIST: tuple[bool, ...]
    RETURN_TYPES: tuple[IO, ...]
    RETURN_NAMES: tuple[str, ...]
    OUTPUT_TOOLTIPS: tuple[str, ...]
    FUNCTION: str

    @classmethod
    @abstractmethod
    def INPUT_TYPES(cls) -> InputTypeDict:  # noqa: N802 (ComfyUI's name)
        """The node's inputs."""
        return {"required": {}}


class CheckLazyMixin:
    """A node with lazy inputs: ``check_lazy_status`` names the inputs still needed (by default every lazy input
    that is still None)."""

    def check_lazy_status(self, **kwargs: Any) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]


class FileLocator(TypedDict):
    """A file in the input, output or temp folder, as a node's ``ui`` output names it."""

    filename: str
    subfolder: str
    type: Literal["input", "output", "temp"]
