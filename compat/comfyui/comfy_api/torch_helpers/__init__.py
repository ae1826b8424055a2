"""ComfyUI's ``comfy_api.torch_helpers``: ``set_torch_compile_wrapper`` (torch.compile of a MODEL's parts through
ComfyUI's wrapper system). A stand-in: Atelier's sampler runs no such wrappers, so it raises
``NotImplementedError``."""

from compat.stand_ins import unsupported_function

set_torch_compile_wrapper = unsupported_function(
    __name__, "set_torch_compile_wrapper", "Atelier's sampler runs no model wrappers, so torch.compile cannot be set")
