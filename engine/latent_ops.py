"""Operations on LATENT dicts (``samples`` [B, C, h, w], optional ``noise_mask`` and ``batch_index``) as ComfyUI's
latent nodes do them: resizing, batch slicing and repeating, blending and pasting."""

from __future__ import annotations

from typing import Any

import torch

from engine.image_ops import keep_aspect, resize_samples

Latent = dict[str, Any]
MIN_UPSCALE_PIXELS = 64


def empty(width: int, height: int, batch_size: int) -> Latent:
    """Zero latents of SD's four channels for ``width`` x ``height`` pixels."""
    return {"samples": torch.zeros(batch_size, 4, height // 8, width // 8)}


def _with_samples(latent: Latent, samples: torch.Tensor) -> Latent:
    """``latent`` with new samples; a noise mask no longer matches them, so it is dropped."""
    result = {key: value for key, value in latent.items() if key != "noise_mask"}
    result["samples"] = samples
    return result


def upscale(latent: Latent, method: str, width: int, height: int, crop: str) -> Latent:
    """Resized to ``width`` x ``height`` pixels (at least 64; 0 follows the other side's scale)."""
    samples = latent["samples"]
    width, height = keep_aspect(width, height, samples.shape[3] * 8, samples.shape[2] * 8)
    width, height = max(MIN_UPSCALE_PIXELS, width), max(MIN_UPSCALE_PIXELS, height)
    return _with_samples(latent, resize_samples(samples, width // 8, height // 8, method, crop))


def upscale_by(latent: Latent, method: str, factor: float) -> Latent:
    samples = latent["samples"]
    width, height = round(samples.shape[3] * factor), round(samples.shape[2] * factor)
    return _with_samples(latent, resize_samples(samples, width, height, method, "disabled"))


def from_batch(latent: Latent, batch_index: int, length: int) -> Latent:
    """``length`` latents from ``batch_index`` on (both clamped to the batch), keeping their original batch indices
    (which seed their noise)."""
    samples = latent["samples"]
    start = min(samples.shape[0] - 1, batch_index)
    length = min(samples.shape[0] - start, length)
    result = dict(latent)
    result["samples"] = samples[start:start + length].clone()
    mask = latent.get("noise_mask")
    if mask is not None:
        result["noise_mask"] = mask[start:start + length].clone() if mask.shape[0] > 1 else mask.clone()
    indices = latent.get("batch_index") or list(range(samples.shape[0]))
    result["batch_index"] = list(indices[start:start + length])
    return result


def repeat_batch(latent: Latent, amount: int) -> Latent:
    """The batch ``amount`` times over; batch indices continue past the original ones."""
    result = dict(latent)
    result["samples"] = latent["samples"].repeat(amount, 1, 1, 1)
    mask = latent.get("noise_mask")
    if mask is not None and mask.shape[0] > 1:
        result["noise_mask"] = mask.repeat(amount, 1, 1, 1)
    if "batch_index" in latent:
        indices = latent["batch_index"]
        offset = max(indices) - min(indices) + 1
        result["batch_index"] = [index + offset * repeat for repeat in range(amount) for index in indices]
    return result


def batch(first: Latent, second: Latent) -> Latent:
    """``second``'s latents after ``first``'s in one batch (``second`` resized bilinearly, centre-cropped, to
    ``first``'s size when they differ); the batch indices (which seed the noise) are both latents' own, or their
    positions. Other entries (a noise mask) are ``first``'s, as ComfyUI's LatentBatch keeps them."""
    a, b = first["samples"], second["samples"]
    if b.shape[1:] != a.shape[1:]:
        b = resize_samples(b, a.shape[3], a.shape[2], "bilinear", "center")
    indices = list(first.get("batch_index", range(a.shape[0]))) + list(second.get("batch_index", range(b.shape[0])))
    return {**first, "samples": torch.cat((a, b), dim=0), "batch_index": indices}


def blend(first: Latent, second: Latent, factor: float) -> Latent:
    """``first * factor + second * (1 - factor)``; ``second`` is centre-cropped and resized to ``first`` first."""
    a, b = first["samples"], second["samples"]
    if b.shape != a.shape:
        b = resize_samples(b, a.shape[3], a.shape[2], "bicubic", "center")
    return {**first, "samples": a * factor + b * (1 - factor)}


def paste(target: Latent, source: Latent, x: int, y: int, feather: int) -> Latent:
    """``source`` pasted into ``target`` at (x, y) pixels (multiples of 8); ``feather`` pixels of each edge that lies
    inside the target fade in linearly (ComfyUI's LatentComposite)."""
    out = target["samples"].clone()
    patch = source["samples"]
    x, y, feather = x // 8, y // 8, feather // 8
    height = min(patch.shape[2], out.shape[2] - y)
    width = min(patch.shape[3], out.shape[3] - x)
    inside = (y > 0, y + height < out.shape[2], x > 0, x + width < out.shape[3])
    weight = _feather_weight(height, width, feather, *inside)
    region = out[:, :, y:y + height, x:x + width]
    out[:, :, y:y + height, x:x + width] = patch[:, :, :height, :width] * weight + region * (1 - weight)
    return {**target, "samples": out}


def _feather_weight(height: int, width: int, feather: int, top: bool, bottom: bool, left: bool,
                    right: bool) -> torch.Tensor:
    weight = torch.ones(1, 1, height, width)
    for index in range(feather):
        value = (index + 1) / feather
        if top:
            weight[..., index, :] *= value
        if bottom:
            weight[..., height - 1 - index, :] *= value
        if left:
            weight[..., :, index] *= value
        if right:
            weight[..., :, width - 1 - index] *= value
    return weight
