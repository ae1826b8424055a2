"""Upscaling with a model (ComfyUI's UpscaleModelLoader and ImageUpscaleWithModel): ESRGAN-family networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.model_cache import MODEL_CACHE
from engine.sd.state_dict import load_state_dict
from engine.upscale import esrgan_from_state_dict, is_esrgan, upscale
from nodes.api import Combo, Node, Output, Socket, progress
from nodes.folders import folders, model_choices


def load_upscale_model(path: Path) -> Any:
    sd = load_state_dict(path)
    if not is_esrgan(sd):
        raise ValueError(f"{path.name} is not an upscale model Atelier can run: only ESRGAN-family networks "
                         "(conv_first / model.0 tensors: ESRGAN, Real-ESRGAN, 4x-UltraSharp ...) are supported")
    try:
        return esrgan_from_state_dict(sd).eval().requires_grad_(False)
    except KeyError as error:
        raise ValueError(f"{path.name}: unexpected ESRGAN layout ({error})") from error


class UpscaleModelLoader(Node):
    display_name = "Load Upscale Model"
    category = "loaders"
    inputs = [Combo("model_name", model_choices("upscale_models"))]
    outputs = [Output("UPSCALE_MODEL")]

    def execute(self, model_name: str) -> tuple:
        path = folders().model_path("upscale_models", model_name)
        return (MODEL_CACHE.get_or_load(path, "upscale", load_upscale_model),)


class ImageUpscaleWithModel(Node):
    """Upscales by the model's factor (often 4x), in tiles so large images fit in memory."""

    display_name = "Upscale Image (using Model)"
    category = "image/upscaling"
    inputs = [Socket("upscale_model", "UPSCALE_MODEL"), Socket("image", "IMAGE")]
    outputs = [Output("IMAGE")]

    def execute(self, upscale_model: Any, image: torch.Tensor) -> tuple:
        return (upscale(upscale_model, image, on_tile=progress),)


NODES = [UpscaleModelLoader, ImageUpscaleWithModel]
