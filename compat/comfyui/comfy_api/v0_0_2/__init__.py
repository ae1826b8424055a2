"""ComfyUI's ``comfy_api.v0_0_2``: the V3 API as of version 0.0.2, the same names as ``comfy_api.latest``."""

from comfy_api.latest import ComfyAPI_latest, ComfyAPISync, ComfyExtension, io, ui  # noqa: F401
from comfy_api.latest import Input as Input_latest
from comfy_api.latest import InputImpl as InputImpl_latest
from comfy_api.latest import Types as Types_latest


class ComfyAPIAdapter_v0_0_2(ComfyAPI_latest):  # noqa: N801 (ComfyUI's name)
    VERSION = "0.0.2"
    STABLE = False


class Input(Input_latest):
    pass


class InputImpl(InputImpl_latest):
    pass


class Types(Types_latest):
    pass


ComfyAPI = ComfyAPIAdapter_v0_0_2

__all__ = ["ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types", "ComfyExtension"]
