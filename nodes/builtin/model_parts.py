"""Loaders for models shipped as separate files: a diffusion model (UNet) and text encoders, to combine with a
VAE from VAELoader (ComfyUI's names, inputs and folders)."""

from __future__ import annotations

import torch

from engine.sd.model_files import dual_text_encoders, load_diffusion_model, load_text_encoder
from nodes.api import Combo, Node, Output
from nodes.folders import folders, model_choices

WEIGHT_DTYPES = {"default": None, "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
                 "fp8_e5m2": torch.float8_e5m2}
DEVICES = ["default", "cpu"]  # accepted for ComfyUI's workflows; text encoders run where the models run


class UNETLoader(Node):
    """Loads a diffusion model (UNet) file from models/diffusion_models, in the original or diffusers' layout."""

    display_name = "Load Diffusion Model"
    category = "advanced/loaders"
    inputs = [Combo("unet_name", model_choices("diffusion_models")), Combo("weight_dtype", list(WEIGHT_DTYPES))]
    outputs = [Output("MODEL")]

    def execute(self, unet_name: str, weight_dtype: str) -> tuple:
        path = folders().model_path("diffusion_models", unet_name)
        return (load_diffusion_model(path, storage_dtype=WEIGHT_DTYPES[weight_dtype]),)


class CLIPLoader(Node):
    """Loads one text encoder from models/text_encoders: CLIP-L (SD1.x), OpenCLIP-H (SD2.x) or bigG (SDXL
    refiner), told apart by width."""

    display_name = "Load CLIP"
    category = "advanced/loaders"
    inputs = [Combo("clip_name", model_choices("text_encoders")), Combo("type", ["stable_diffusion"]),
              Combo("device", DEVICES, optional=True)]
    outputs = [Output("CLIP")]

    def execute(self, clip_name: str, type: str, device: str = "default") -> tuple:
        return (load_text_encoder(folders().model_path("text_encoders", clip_name)),)


class DualCLIPLoader(Node):
    """Loads SDXL's two text encoders (CLIP-L and OpenCLIP-bigG, in either order)."""

    display_name = "DualCLIPLoader"
    category = "advanced/loaders"
    inputs = [Combo("clip_name1", model_choices("text_encoders")), Combo("clip_name2", model_choices("text_encoders")),
              Combo("type", ["sdxl"]), Combo("device", DEVICES, optional=True)]
    outputs = [Output("CLIP")]

    def execute(self, clip_name1: str, clip_name2: str, type: str, device: str = "default") -> tuple:
        first, second = (load_text_encoder(folders().model_path("text_encoders", name))
                         for name in (clip_name1, clip_name2))
        return (dual_text_encoders(first, second),)


NODES = [UNETLoader, CLIPLoader, DualCLIPLoader]
