"""ComfyUI's ``comfy.ldm.util``: the small helpers packs import from it."""

from __future__ import annotations

from inspect import isfunction
from typing import Any


def exists(val: Any) -> bool:
    return val is not None


def default(val: Any, d: Any) -> Any:
    """``val``, or ``d`` when ``val`` is None (``d`` called when it is a function)."""
    if val is not None:
        return val
    return d() if isfunction(d) else d
