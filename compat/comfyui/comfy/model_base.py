"""ComfyUI's ``comfy.model_base``: ``ModelType``, and ``BaseModel``/``SDXL``/``SDXLRefiner`` as the classes of a
MODEL's ``model`` view (``engine.sd.base_model``), so ``isinstance(model.model, comfy.model_base.SDXL)`` tells
the family as in ComfyUI. SD1.x and SD2.x models are plain ``BaseModel`` there as here. Other architectures'
classes (Flux, SD3, ...) are absent: Atelier does not run those models.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"BaseModel": "BaseModel", "SDXL": "SDXLModel", "SDXLRefiner": "SDXLRefinerModel", "ModelType": "ModelType"}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        from engine.sd import base_model

        return getattr(base_model, _NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
