"""ComfyUI's ``comfy.clip_vision``: a view over Atelier's CLIP vision encoder (``engine.sd.clip_vision``).

``load`` reads a file through the runtime's model cache (as CLIPVisionLoader does); ``ClipVisionModel`` is the
engine's class, so ``isinstance`` checks in packs hold; ``Output`` is the engine's output dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.sd.clip_vision import IMAGE_MEAN, IMAGE_STD, ClipVisionError, clip_vision_from_state_dict
from engine.sd.clip_vision import ClipVision as ClipVisionModel
from engine.sd.clip_vision import ClipVisionOutput as Output
from engine.sd.clip_vision import clip_preprocess as _clip_preprocess

__all__ = ["ClipVisionModel", "Output", "clip_preprocess", "load", "load_clipvision_from_sd"]


def _runtime() -> Any:
    from compat import host

    return host.runtime()


def clip_preprocess(image: Any, size: int = 224, mean: Any = IMAGE_MEAN, std: Any = IMAGE_STD,
                    crop: bool = True) -> Any:
    return _clip_preprocess(image, size, tuple(mean), tuple(std), crop)


def load(ckpt_path: str) -> ClipVisionModel | None:
    """A CLIP vision file, through the model cache; None when the file holds no CLIP vision tower (as ComfyUI)."""
    from engine.sd.clip_vision import read_clip_vision

    devices = _runtime().devices
    try:
        return _runtime().models.load(Path(ckpt_path), "clip_vision", lambda file: read_clip_vision(file, devices))
    except ClipVisionError:
        return None


def load_clipvision_from_sd(sd: Mapping[str, Any], prefix: str = "", convert_keys: bool = False
                            ) -> ClipVisionModel | None:
    """The tower under ``prefix`` (either layout; ``convert_keys`` is implied), or None when there is none."""
    try:
        return clip_vision_from_state_dict(sd, prefix, _runtime().devices)
    except (ClipVisionError, KeyError):
        return None
