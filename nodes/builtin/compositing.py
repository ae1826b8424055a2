"""Compositing and blending nodes (ComfyUI's names, inputs and ranges): images through a mask, blend modes,
scaling to a pixel count, and latent blending."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.values import Latent
from engine.image_names import BLEND_MODES, RESAMPLE_METHODS
from nodes.api import Boolean, Combo, Float, Int, Node, Output, Socket

if TYPE_CHECKING:
    import torch

MAX_RESOLUTION = 16384


class ImageCompositeMasked(Node):
    """Pastes ``source`` onto ``destination`` at (x, y); where a mask is given, only through it."""

    category = "image"
    inputs = [Socket("destination", "IMAGE"), Socket("source", "IMAGE"),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=1), Int("y", 0, min=0, max=MAX_RESOLUTION, step=1),
              Boolean("resize_source", False), Socket("mask", "MASK", optional=True)]
    outputs = [Output("IMAGE")]

    def execute(self, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, resize_source: bool,
                mask: torch.Tensor | None = None) -> tuple:
        from engine import compositing

        return (compositing.composite(destination, source, x, y, mask, resize_source),)


class ImageBlend(Node):
    display_name = "Image Blend"
    category = "image/postprocessing"
    inputs = [Socket("image1", "IMAGE"), Socket("image2", "IMAGE"),
              Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01), Combo("blend_mode", list(BLEND_MODES))]
    outputs = [Output("IMAGE")]

    def execute(self, image1: torch.Tensor, image2: torch.Tensor, blend_factor: float, blend_mode: str) -> tuple:
        from engine import compositing

        return (compositing.blend(image1, image2, blend_factor, blend_mode),)


class ImageScaleToTotalPixels(Node):
    """Scales to about ``megapixels`` million pixels (x 1024²), keeping the aspect ratio: e.g. 1.0 for SDXL."""

    category = "image/upscaling"
    inputs = [Socket("image", "IMAGE"), Combo("upscale_method", list(RESAMPLE_METHODS)),
              Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, upscale_method: str, megapixels: float) -> tuple:
        from engine.image_ops import scale_to_total_pixels

        return (scale_to_total_pixels(image, upscale_method, megapixels),)


class LatentBlend(Node):
    category = "_for_testing"
    inputs = [Socket("samples1", "LATENT"), Socket("samples2", "LATENT"),
              Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("LATENT")]

    def execute(self, samples1: Latent, samples2: Latent, blend_factor: float) -> tuple:
        from engine import latent_ops

        return (latent_ops.blend(samples1, samples2, blend_factor),)


NODES = [ImageCompositeMasked, ImageBlend, ImageScaleToTotalPixels, LatentBlend]
