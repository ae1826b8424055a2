"""Combining images: pasting one onto another through a mask, and Photoshop-style blend modes (ComfyUI's
formulas, so results match its ImageCompositeMasked and ImageBlend)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.image_names import BLEND_MODES
from engine.image_ops import resize


def _to_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    repeats = -(-batch // x.shape[0])
    return x.repeat(repeats, *([1] * (x.ndim - 1)))[:batch]


def match_channels(destination: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``source`` [..., C] with ``destination``'s channel count: extra channels dropped, a missing alpha opaque
    (ComfyUI's ``image_alpha_fix``, so RGB onto RGBA works)."""
    if source.shape[-1] > destination.shape[-1]:
        return source[..., : destination.shape[-1]]
    if source.shape[-1] < destination.shape[-1]:
        return F.pad(source, (0, destination.shape[-1] - source.shape[-1]), value=1.0)
    return source


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, mask: torch.Tensor | None = None,
              resize_source: bool = False) -> torch.Tensor:
    """IMAGE ``source`` pasted onto ``destination`` with its top-left corner at (x, y), weighted by ``mask``
    (resized to the source); what falls outside the destination is cut off."""
    out = destination.movedim(-1, 1).clone()
    src = match_channels(destination, source).movedim(-1, 1)
    if resize_source:
        src = F.interpolate(src, size=out.shape[-2:], mode="bilinear", align_corners=False)
    src = _to_batch(src, out.shape[0])
    weight = torch.ones_like(src[:, :1]) if mask is None else F.interpolate(
        mask.reshape(-1, 1, *mask.shape[-2:]).float(), size=src.shape[-2:], mode="bilinear", align_corners=False)
    weight = _to_batch(weight, out.shape[0])
    height, width = min(src.shape[2], out.shape[2] - y), min(src.shape[3], out.shape[3] - x)
    if height > 0 and width > 0:
        region = out[:, :, y:y + height, x:x + width]
        w = weight[:, :, :height, :width]
        out[:, :, y:y + height, x:x + width] = w * src[:, :, :height, :width] + (1 - w) * region
    return out.movedim(1, -1)


def _soft_light_curve(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend(image1: torch.Tensor, image2: torch.Tensor, factor: float, mode: str) -> torch.Tensor:
    """``image1 * (1 - factor) + mode(image1, image2) * factor``, clamped; ``image2`` is cropped to ``image1``'s
    aspect ratio around its centre and resized to it, as ComfyUI does."""
    if mode not in BLEND_MODES:
        raise ValueError(f"unknown blend mode {mode!r}; expected one of {', '.join(BLEND_MODES)}")
    image2 = match_channels(image1, image2)
    if image2.shape[1:3] != image1.shape[1:3]:
        image2 = resize(image2, image1.shape[2], image1.shape[1], "bicubic", crop="center")
    a, b = image1, image2
    blended = {
        "normal": lambda: b,
        "multiply": lambda: a * b,
        "screen": lambda: 1 - (1 - a) * (1 - b),
        "overlay": lambda: torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b)),
        "soft_light": lambda: torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a),
                                          a + (2 * b - 1) * (_soft_light_curve(a) - a)),
        "difference": lambda: a - b,
    }[mode]()
    return (a * (1 - factor) + blended * factor).clamp(0, 1)
