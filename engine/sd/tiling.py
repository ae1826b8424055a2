"""Run an image-to-image function over overlapping tiles and blend the seams."""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles of width ``tile`` covering ``size`` with at least ``overlap`` in common.

    Offsets are multiples of ``align`` when ``size`` and ``tile`` are.
    """
    if size <= tile:
        return [0]
    stride = max(align, (tile - overlap) // align * align)
    return list(range(0, size - tile, stride)) + [size - tile]


def _ramp(length: int, overlap: int, device: torch.device) -> torch.Tensor:
    """1 in the middle, falling linearly to 1/(overlap+1) at both ends: the tile's blending weight."""
    idx = torch.arange(length, dtype=torch.float32, device=device)
    dist = torch.minimum(idx + 1, length - idx)
    return (dist / (overlap + 1)).clamp(max=1.0)


def tiled_map(
    x: torch.Tensor,
    fn: Callable[[torch.Tensor], torch.Tensor],
    tile: int | tuple[int, int],
    overlap: int,
    scale: float,
    out_channels: int,
    align: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Apply ``fn`` ([B,C,h,w] -> [B,out_channels,h*scale,w*scale]) tile by tile to ``x`` and blend.

    ``tile`` (one side, or (height, width)) and ``overlap`` are in ``x``'s pixels; ``align`` keeps tile offsets on
    a grid (the VAE's downscale factor when encoding); ``on_tile(done, total)`` reports progress. The result is
    float32 on ``x``'s device.
    """
    b, _, h, w = x.shape
    out = torch.zeros(b, out_channels, round(h * scale), round(w * scale), device=x.device)
    weight = torch.zeros(1, 1, out.shape[2], out.shape[3], device=x.device)
    out_overlap = max(1, round(overlap * scale))
    tile_h, tile_w = (tile, tile) if isinstance(tile, int) else tile
    starts = [(y0, x0) for y0 in tile_starts(h, tile_h, overlap, align)
              for x0 in tile_starts(w, tile_w, overlap, align)]
    for done, (y0, x0) in enumerate(starts, start=1):
        piece = fn(x[:, :, y0 : y0 + tile_h, x0 : x0 + tile_w]).float().to(x.device)
        oy, ox = round(y0 * scale), round(x0 * scale)
        th, tw = piece.shape[2], piece.shape[3]
        mask = _ramp(th, out_overlap, x.device)[:, None] * _ramp(tw, out_overlap, x.device)[None, :]
        out[:, :, oy : oy + th, ox : ox + tw] += piece * mask
        weight[:, :, oy : oy + th, ox : ox + tw] += mask
        if on_tile is not None:
            on_tile(done, len(starts))
    return out / weight
