"""ComfyUI's ``comfy`` package for plug-ins: views over Atelier's engine and runtime (see ``compat``).

In ComfyUI the server has imported most of ``comfy``'s modules before any plug-in loads, so packs write
``import comfy.sample`` and then use ``comfy.samplers`` without importing it; here a submodule is imported the first
time it is named.
"""

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module 'comfy' has no attribute {name!r}") from None
