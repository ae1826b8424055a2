"""Upscaling with a model (ComfyUI's UpscaleModelLoader and ImageUpscaleWithModel): ESRGAN-family networks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.api import Combo, ExecutionContext, Node, Output, Socket, model_choices

if TYPE_CHECKING:
    import torch

    from engine.upscale import RRDBNet


class UpscaleModelLoader(Node):
    display_name = "Load Upscale Model"
    category = "loaders"
    inputs = [Combo("model_name", model_choices("upscale_models"))]
    outputs = [Output("UPSCALE_MODEL")]

    def execute(self, model_name: str, context: ExecutionContext) -> tuple:
        path = context.folders.model_path("upscale_models", model_name)
        from engine.upscale import read_upscale_model

        return (context.models.load(path, "upscale_model", read_upscale_model),)


class ImageUpscaleWithModel(Node):
    """Upscales by the model's factor (often 4x), in tiles so large images fit in memory."""

    display_name = "Upscale Image (using Model)"
    category = "image/upscaling"
    inputs = [Socket("upscale_model", "UPSCALE_MODEL"), Socket("image", "IMAGE")]
    outputs = [Output("IMAGE")]

    def execute(self, upscale_model: RRDBNet, image: torch.Tensor, context: ExecutionContext) -> tuple:
        from engine.upscale import upscale

        return (upscale(upscale_model, image, on_tile=context.progress, devices=context.devices),)


NODES = [UpscaleModelLoader, ImageUpscaleWithModel]
