"""Latent images: empty latents, upscaling and batch handling (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from core.values import Latent
from engine.image_names import LATENT_UPSCALE_METHODS
from nodes.api import Combo, Float, Int, Node, Output, Socket

MAX_RESOLUTION = 16384



class EmptyLatentImage(Node):
    """A batch of empty (zero) latents to start text-to-image from."""

    display_name = "Empty Latent Image"
    category = "latent"
    inputs = [Int("width", 512, min=16, max=MAX_RESOLUTION, step=8),
              Int("height", 512, min=16, max=MAX_RESOLUTION, step=8),
              Int("batch_size", 1, min=1, max=4096)]
    outputs = [Output("LATENT")]

    def execute(self, width: int, height: int, batch_size: int) -> tuple:
        from engine import latent_ops

        return (latent_ops.empty(width, height, batch_size),)


class LatentUpscale(Node):
    display_name = "Upscale Latent"
    category = "latent"
    inputs = [Socket("samples", "LATENT"), Combo("upscale_method", list(LATENT_UPSCALE_METHODS)),
              Int("width", 512, min=0, max=MAX_RESOLUTION, step=8),
              Int("height", 512, min=0, max=MAX_RESOLUTION, step=8), Combo("crop", ["disabled", "center"])]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        from engine import latent_ops

        return (latent_ops.upscale(samples, upscale_method, width, height, crop),)


class LatentUpscaleBy(Node):
    display_name = "Upscale Latent By"
    category = "latent"
    inputs = [Socket("samples", "LATENT"), Combo("upscale_method", list(LATENT_UPSCALE_METHODS)),
              Float("scale_by", 1.5, min=0.01, max=8.0, step=0.01)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, upscale_method: str, scale_by: float) -> tuple:
        from engine import latent_ops

        return (latent_ops.upscale_by(samples, upscale_method, scale_by),)


class LatentFromBatch(Node):
    display_name = "Latent From Batch"
    category = "latent/batch"
    inputs = [Socket("samples", "LATENT"), Int("batch_index", 0, min=0, max=63), Int("length", 1, min=1, max=64)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, batch_index: int, length: int) -> tuple:
        from engine import latent_ops

        return (latent_ops.from_batch(samples, batch_index, length),)


class RepeatLatentBatch(Node):
    display_name = "Repeat Latent Batch"
    category = "latent/batch"
    inputs = [Socket("samples", "LATENT"), Int("amount", 1, min=1, max=64)]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, amount: int) -> tuple:
        from engine import latent_ops

        return (latent_ops.repeat_batch(samples, amount),)


class LatentBatch(Node):
    """The latents of ``samples2`` after those of ``samples1``, in one batch (``samples2`` resized to match)."""

    display_name = "Latent Batch"
    category = "latent/batch"
    inputs = [Socket("samples1", "LATENT"), Socket("samples2", "LATENT")]
    outputs = [Output("LATENT")]

    def execute(self, samples1: Latent, samples2: Latent) -> tuple:
        from engine import latent_ops

        return (latent_ops.batch(samples1, samples2),)


NODES = [EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentFromBatch, RepeatLatentBatch, LatentBatch]
