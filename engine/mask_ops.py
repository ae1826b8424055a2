"""Operations on masks ``[B, H, W]`` in 0..1: growing and shrinking, feathered edges, composition."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.image_names import MASK_OPERATIONS


def grow(mask: torch.Tensor, pixels: int, tapered_corners: bool = True) -> torch.Tensor:
    """Dilate (``pixels`` > 0) or erode (< 0) by one pixel per step; tapered corners use a cross-shaped neighbourhood
    (rounded growth), otherwise a 3x3 square."""
    out = mask.reshape(-1, 1, *mask.shape[-2:]).float()
    sign = 1.0 if pixels > 0 else -1.0
    for _ in range(abs(pixels)):
        padded = F.pad(out * sign, (1, 1, 1, 1), value=-float("inf"))
        if tapered_corners:
            centre = padded[..., 1:-1, 1:-1]
            neighbours = [padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]]
            out = torch.stack([centre, *neighbours]).amax(dim=0) * sign
        else:
            out = F.max_pool2d(padded, 3, stride=1) * sign
    return out.reshape(mask.shape) if mask.ndim == 3 else out[:, 0]


def feather(mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> torch.Tensor:
    """Fade the mask linearly towards 0 over the given number of pixels at each edge (at most the mask's size).

    ComfyUI's FeatherMask indexes the right and bottom edges one pixel off (its first factor lands on the left
    column and top row); here each ramp ends at its own edge."""
    out = mask.reshape(-1, *mask.shape[-2:]).clone().float()
    height, width = out.shape[-2:]
    for size, length, view in ((left, width, lambda i: out[:, :, i]), (right, width, lambda i: out[:, :, -i - 1]),
                               (top, height, lambda i: out[:, i, :]), (bottom, height, lambda i: out[:, -i - 1, :])):
        size = min(size, length)
        for i in range(size):
            view(i).mul_((i + 1) / size)
    return out


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str) -> torch.Tensor:
    """``source`` combined into ``destination`` with its top-left corner at (x, y); the result is clamped to 0..1."""
    if operation not in MASK_OPERATIONS:
        raise ValueError(f"unknown mask operation {operation!r}; expected one of {', '.join(MASK_OPERATIONS)}")
    out = destination.reshape(-1, *destination.shape[-2:]).clone().float()
    source = source.reshape(-1, *source.shape[-2:]).float()
    height, width = out.shape[-2:]
    x, y = min(x, width), min(y, height)
    h, w = min(source.shape[-2], height - y), min(source.shape[-1], width - x)
    region = out[:, y:y + h, x:x + w]
    part = source[:, :h, :w]
    if operation == "multiply":
        combined = region * part
    elif operation == "add":
        combined = region + part
    elif operation == "subtract":
        combined = region - part
    else:
        logic = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}[operation]
        combined = logic(region.round().bool(), part.round().bool()).float()
    out[:, y:y + h, x:x + w] = combined
    return out.clamp(0.0, 1.0)
