"""An example plug-in: drop a package or a .py file into custom_nodes/ and its nodes appear in the editor.

Atelier reads two APIs. Its own typed API (``ATELIER_NODES``), where a node declares its inputs once, and
ComfyUI's V1 class API (``NODE_CLASS_MAPPINGS``), so existing ComfyUI plug-ins work unchanged.

Import torch inside the functions that compute, not at the top: the server lists nodes without loading torch and
starts in about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.api import Float, Node, Output, Socket

if TYPE_CHECKING:
    import torch


class ImageBrightness(Node):
    """Multiplies an image's brightness (Atelier's typed API)."""

    display_name = "Brightness (example plug-in)"
    category = "examples"
    inputs = [Socket("image", "IMAGE"), Float("factor", 1.2, min=0.0, max=4.0, step=0.05)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, factor: float) -> tuple:
        return ((image * factor).clamp(0, 1),)


class ImageGrayscale:
    """Converts an image to grayscale (ComfyUI's V1 class API)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "examples"
    DESCRIPTION = "Converts an image to grayscale (ITU-R 601 luma)."

    def run(self, image):
        import torch

        luma = image[..., :3] @ torch.tensor([0.299, 0.587, 0.114])
        return (luma[..., None].expand(*image.shape[:-1], 3).clone(),)


ATELIER_NODES = [ImageBrightness]
NODE_CLASS_MAPPINGS = {"ExampleImageGrayscale": ImageGrayscale}
NODE_DISPLAY_NAME_MAPPINGS = {"ExampleImageGrayscale": "Grayscale (example plug-in)"}
