"""Loaders for models shipped as separate files: a diffusion model (UNet) and text encoders, to combine with a
VAE from VAELoader (ComfyUI's names, inputs and folders)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.weight_dtypes import WEIGHT_DTYPES
from nodes.api import Combo, ExecutionContext, Node, Output, model_choices

if TYPE_CHECKING:
    from engine.sd.clip import ClipTextModel

DEVICES = ["default", "cpu"]  # accepted for ComfyUI's workflows; text encoders run where the models run


class UNETLoader(Node):
    """Loads a diffusion model (UNet) file from models/diffusion_models, in the original or diffusers' layout."""

    display_name = "Load Diffusion Model"
    category = "advanced/loaders"
    inputs = [Combo("unet_name", model_choices("diffusion_models")), Combo("weight_dtype", WEIGHT_DTYPES)]
    outputs = [Output("MODEL")]

    def execute(self, unet_name: str, weight_dtype: str, context: ExecutionContext) -> tuple:
        from engine.sd.model_files import load_diffusion_model
        from engine.weight_dtypes import storage_dtype

        dtype = storage_dtype(weight_dtype)
        path = context.folders.model_path("diffusion_models", unet_name)
        kind = "diffusion_model" if dtype is None else f"diffusion_model:{dtype}"  # one cached copy per dtype
        model = context.models.load(
            path, kind, lambda file: load_diffusion_model(file, storage_dtype=dtype, devices=context.devices))
        return (model.clone(),)


def load_text_encoder_file(name: str, context: ExecutionContext) -> ClipTextModel:
    from engine.sd.model_files import load_text_encoder

    path = context.folders.model_path("text_encoders", name)
    return context.models.load(path, "text_encoder", lambda file: load_text_encoder(file, context.devices))


class CLIPLoader(Node):
    """Loads one text encoder from models/text_encoders: CLIP-L (SD1.x), OpenCLIP-H (SD2.x) or bigG (SDXL
    refiner), told apart by width."""

    display_name = "Load CLIP"
    category = "advanced/loaders"
    inputs = [Combo("clip_name", model_choices("text_encoders")), Combo("type", ["stable_diffusion"]),
              Combo("device", DEVICES, optional=True)]
    outputs = [Output("CLIP")]

    def execute(self, clip_name: str, type: str, device: str = "default", *, context: ExecutionContext) -> tuple:
        return (load_text_encoder_file(clip_name, context),)


class DualCLIPLoader(Node):
    """Loads SDXL's two text encoders (CLIP-L and OpenCLIP-bigG, in either order)."""

    display_name = "DualCLIPLoader"
    category = "advanced/loaders"
    inputs = [Combo("clip_name1", model_choices("text_encoders")), Combo("clip_name2", model_choices("text_encoders")),
              Combo("type", ["sdxl"]), Combo("device", DEVICES, optional=True)]
    outputs = [Output("CLIP")]

    def execute(self, clip_name1: str, clip_name2: str, type: str, device: str = "default", *,
                context: ExecutionContext) -> tuple:
        from engine.sd.model_files import dual_text_encoders

        first, second = (load_text_encoder_file(name, context) for name in (clip_name1, clip_name2))
        return (dual_text_encoders(first, second),)


NODES = [UNETLoader, CLIPLoader, DualCLIPLoader]
