"""ComfyUI's ``comfy.sdxl_clip`` names over Atelier's CLIP values: ``SDXLClipModel`` is SDXL's pair
(``engine.sd.dual_clip.DualClip``); ``SDXLClipG`` and ``SDXLRefinerClipModel`` match an OpenCLIP-bigG text encoder
value (the refiner's CLIP, SDXL's ``clip.cond_stage_model.clip_g``); ``SDXLTokenizer`` is the ``clip.tokenizer``
view. Plug-ins use them in ``isinstance`` checks; Atelier's loaders build the values.
"""

from __future__ import annotations

from typing import Any

from comfy.sd1_clip import SD1ClipModel


class SDXLClipG(SD1ClipModel):
    letter = "g"


class SDXLRefinerClipModel(SD1ClipModel):
    letter = "g"


def __getattr__(name: str) -> Any:
    if name == "SDXLClipModel":
        from engine.sd.dual_clip import DualClip

        return DualClip
    if name in ("SDXLTokenizer", "SDXLClipGTokenizer"):
        from engine.sd.comfy_clip import ComfyTokenizer

        return ComfyTokenizer
    raise AttributeError(f"module 'comfy.sdxl_clip' has no attribute {name!r}")
