"""Latent images: empty latents, upscaling and batch handling (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from typing import Any

import torch

from engine import image_ops
from nodes.api import Combo, Float, Int, Node, Output, Socket

MAX_RESOLUTION = 16384
LATENT_UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]

Latent = dict[str, Any]


class EmptyLatentImage(Node):
    """A batch of empty (zero) latents to start text-to-image from."""

    display_name = "Empty Latent Image"
    category = "latent"
    inputs = [Int("width", 512, min=16, max=MAX_RESOLUTION, step=8),
              Int("height", 512, min=16, max=MAX_RESOLUTION, step=8),
              Int("batch_size", 1, min=1, max=4096)]
    outputs = [Output("LATENT")]

    def execute(self, width: int, height: int, batch_size: int = 1) -> tuple:
        return ({"samples": torch.zeros(batch_size, 4, height // 8, width // 8)},)


def _with_samples(latent: Latent, samples: torch.Tensor) -> Latent:
    result = {key: value for key, value in latent.items() if key != "noise_mask"}
    result["samples"] = samples
    return result


class LatentUpscale(Node):
    display_name = "Upscale Latent"
    category = "latent"
    inputs = [Socket("samples", "LATENT"), Combo("upscale_method", LATENT_UPSCALE_METHODS),
              Int("width", 512, min=0, max=MAX_RESOLUTION, step=8),
              Int("height", 512, min=0, max=MAX_RESOLUTION, step=8), Combo("crop", ["disabled", "center"])]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        latent = samples["samples"]
        width, height = image_ops.keep_aspect(width, height, latent.shape[3] * 8, latent.shape[2] * 8)
        width, height = max(64, width), max(64, height)
        resized = image_ops.resize_samples(latent, width // 8, height // 8, upscale_method, crop)
        return (_with_samples(samples, resized),)


class LatentUpscaleBy(Node):
    display_name = "Upscale Latent By"
    category = "latent"
    inputs = [Socket("samples", "LATENT"), Combo("upscale_method", LATENT_UPSCALE_METHODS),
              Float("scale_by", 1.5, min=0.01, max=8.0, step=0.01)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, upscale_method: str, scale_by: float) -> tuple:
        latent = samples["samples"]
        width, height = round(latent.shape[3] * scale_by), round(latent.shape[2] * scale_by)
        resized = image_ops.resize_samples(latent, width, height, upscale_method, "disabled")
        return (_with_samples(samples, resized),)


class LatentFromBatch(Node):
    display_name = "Latent From Batch"
    category = "latent/batch"
    inputs = [Socket("samples", "LATENT"), Int("batch_index", 0, min=0, max=63), Int("length", 1, min=1, max=64)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, batch_index: int, length: int) -> tuple:
        latent = samples["samples"]
        start = min(latent.shape[0] - 1, batch_index)
        length = min(latent.shape[0] - start, length)
        result = dict(samples)
        result["samples"] = latent[start:start + length].clone()
        mask = samples.get("noise_mask")
        if mask is not None:
            result["noise_mask"] = mask[start:start + length].clone() if mask.shape[0] > 1 else mask.clone()
        indices = samples.get("batch_index") or list(range(latent.shape[0]))
        result["batch_index"] = list(indices[start:start + length])
        return (result,)


class RepeatLatentBatch(Node):
    display_name = "Repeat Latent Batch"
    category = "latent/batch"
    inputs = [Socket("samples", "LATENT"), Int("amount", 1, min=1, max=64)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, amount: int) -> tuple:
        latent = samples["samples"]
        result = dict(samples)
        result["samples"] = latent.repeat(amount, 1, 1, 1)
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] > 1:
            result["noise_mask"] = mask.repeat(amount, 1, 1, 1)
        if "batch_index" in samples:
            indices, offset = samples["batch_index"], max(samples["batch_index"]) - min(samples["batch_index"]) + 1
            result["batch_index"] = [index + offset * repeat for repeat in range(amount) for index in indices]
        return (result,)


NODES = [EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentFromBatch, RepeatLatentBatch]
