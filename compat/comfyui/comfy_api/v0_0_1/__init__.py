"""ComfyUI's ``comfy_api.v0_0_1``: the first stable version, the same names as ``comfy_api.v0_0_2``."""

from comfy_api.v0_0_2 import ComfyAPIAdapter_v0_0_2, ComfyAPISync  # noqa: F401
from comfy_api.v0_0_2 import Input as Input_v0_0_2
from comfy_api.v0_0_2 import InputImpl as InputImpl_v0_0_2
from comfy_api.v0_0_2 import Types as Types_v0_0_2


class ComfyAPIAdapter_v0_0_1(ComfyAPIAdapter_v0_0_2):  # noqa: N801 (ComfyUI's name)
    VERSION = "0.0.1"
    STABLE = True


class Input(Input_v0_0_2):
    pass


class InputImpl(InputImpl_v0_0_2):
    pass


class Types(Types_v0_0_2):
    pass


ComfyAPI = ComfyAPIAdapter_v0_0_1

__all__ = ["ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types"]
