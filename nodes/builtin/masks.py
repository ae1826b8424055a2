"""Mask nodes (ComfyUI's names, inputs and ranges): masks to and from images, solid masks, growing, feathering,
thresholds, crops and composition. A MASK is ``[B, H, W]`` in 0..1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.image_names import MASK_OPERATIONS
from nodes.api import Boolean, Combo, Float, Int, Node, Output, Socket

if TYPE_CHECKING:
    import torch

MAX_RESOLUTION = 16384
CHANNELS = ["red", "green", "blue", "alpha"]


def _batched(mask: torch.Tensor) -> torch.Tensor:
    """A mask as [B, H, W], also when it came as a single [H, W]."""
    return mask.reshape(-1, *mask.shape[-2:])


class ImageToMask(Node):
    display_name = "Convert Image to Mask"
    category = "mask"
    inputs = [Socket("image", "IMAGE"), Combo("channel", CHANNELS)]
    outputs = [Output("MASK")]

    def execute(self, image: torch.Tensor, channel: str) -> tuple:
        index = CHANNELS.index(channel)
        if index >= image.shape[-1]:
            raise ValueError(f"channel: the image has no {channel} channel ({image.shape[-1]} channels)")
        return (image[..., index],)


class MaskToImage(Node):
    display_name = "Convert Mask to Image"
    category = "mask"
    inputs = [Socket("mask", "MASK")]
    outputs = [Output("IMAGE")]

    def execute(self, mask: torch.Tensor) -> tuple:
        return (_batched(mask)[..., None].expand(-1, -1, -1, 3).clone(),)


class InvertMask(Node):
    category = "mask"
    inputs = [Socket("mask", "MASK")]
    outputs = [Output("MASK")]

    def execute(self, mask: torch.Tensor) -> tuple:
        return (1.0 - mask,)


class SolidMask(Node):
    category = "mask"
    inputs = [Float("value", 1.0, min=0.0, max=1.0, step=0.01), Int("width", 512, min=1, max=MAX_RESOLUTION),
              Int("height", 512, min=1, max=MAX_RESOLUTION)]
    outputs = [Output("MASK")]

    def execute(self, value: float, width: int, height: int) -> tuple:
        import torch

        return (torch.full((1, height, width), value, dtype=torch.float32),)


class GrowMask(Node):
    """Grows the mask by ``expand`` pixels (shrinks it when negative)."""

    display_name = "Grow Mask"
    category = "mask"
    inputs = [Socket("mask", "MASK"), Int("expand", 0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1),
              Boolean("tapered_corners", True)]
    outputs = [Output("MASK")]

    def execute(self, mask: torch.Tensor, expand: int, tapered_corners: bool) -> tuple:
        from engine import mask_ops

        return (mask_ops.grow(_batched(mask), expand, tapered_corners),)


class FeatherMask(Node):
    category = "mask"
    inputs = [Socket("mask", "MASK"), *(Int(side, 0, min=0, max=MAX_RESOLUTION, step=1)
                                        for side in ("left", "top", "right", "bottom"))]
    outputs = [Output("MASK")]

    def execute(self, mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> tuple:
        from engine import mask_ops

        return (mask_ops.feather(mask, left, top, right, bottom),)


class ThresholdMask(Node):
    category = "mask"
    inputs = [Socket("mask", "MASK"), Float("value", 0.5, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("MASK")]

    def execute(self, mask: torch.Tensor, value: float) -> tuple:
        return ((mask > value).float(),)


class CropMask(Node):
    category = "mask"
    inputs = [Socket("mask", "MASK"), Int("x", 0, min=0, max=MAX_RESOLUTION, step=1),
              Int("y", 0, min=0, max=MAX_RESOLUTION, step=1), Int("width", 512, min=1, max=MAX_RESOLUTION, step=1),
              Int("height", 512, min=1, max=MAX_RESOLUTION, step=1)]
    outputs = [Output("MASK")]

    def execute(self, mask: torch.Tensor, x: int, y: int, width: int, height: int) -> tuple:
        return (_batched(mask)[:, y:y + height, x:x + width],)


class MaskComposite(Node):
    category = "mask"
    inputs = [Socket("destination", "MASK"), Socket("source", "MASK"),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=1), Int("y", 0, min=0, max=MAX_RESOLUTION, step=1),
              Combo("operation", list(MASK_OPERATIONS))]
    outputs = [Output("MASK")]

    def execute(self, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str) -> tuple:
        from engine import mask_ops

        return (mask_ops.composite(destination, source, x, y, operation),)


NODES = [ImageToMask, MaskToImage, InvertMask, SolidMask, GrowMask, FeatherMask, ThresholdMask, CropMask,
         MaskComposite]
