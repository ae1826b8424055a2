"""Models shipped as separate files: a VAE, a UNet (original or diffusers layout) or a text encoder, optionally
under the prefix a checkpoint gives it. Each call reads the file afresh (the runtime's model cache owns loaded
models); weights are read straight into the dtype they compute in on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.device import AUTO, Devices
from engine.sd.components import (
    CheckpointError,
    clip_from_state_dict,
    model_dtypes,
    read_weights,
    text_encoder_width,
    unet_from_state_dict,
    vae_dtypes,
    vae_from_state_dict,
)
from engine.sd.families import SDXL, TEXT_ENCODER_PREFIXES, UNET_PREFIX, VAE_PREFIX, style_for_width
from engine.sd.model import DiffusionModel
from engine.sd.state_dict import has_prefix, with_prefix
from engine.sd.unet_names import diffusers_structure, diffusers_to_ldm
from engine.sd.vae import VAE


def load_vae(path: str | Path, devices: Devices = AUTO) -> VAE:
    """A standalone VAE file in LDM layout (optionally under ``first_stage_model.`` or ``vae.``) or diffusers
    layout, computing as ``devices`` says."""
    path = Path(path)
    sd = read_weights(path, vae_dtypes(devices))
    for prefix in (VAE_PREFIX, "vae."):
        if has_prefix(sd, prefix):
            sd = with_prefix(sd, prefix)
    try:
        return vae_from_state_dict(sd, devices)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a KL VAE file: expected keys like 'encoder.conv_in.weight' and "
            f"'decoder.conv_out.weight' (LDM or diffusers layout) ({e})"
        ) from e


def load_diffusion_model(path: str | Path, *, storage_dtype: torch.dtype | None = None,
                         devices: Devices = AUTO) -> DiffusionModel:
    """A UNet-only file (original layout with or without ``model.diffusion_model.``, or diffusers' layout), its
    weights optionally stored in another dtype (fp8 halves the memory of fp16 files), computing as ``devices``
    says."""
    path = Path(path)
    if storage_dtype is None:
        dtype_for = model_dtypes(devices)
    else:
        def dtype_for(key: str, stored: torch.dtype) -> torch.dtype:
            return storage_dtype if stored.is_floating_point else stored
    sd = read_weights(path, dtype_for)
    markers = list(sd)  # trainers' marker keys (v_pred, ztsnr ...) sit beside the weights
    if has_prefix(sd, UNET_PREFIX):
        sd = with_prefix(sd, UNET_PREFIX)
    if "conv_in.weight" in sd:  # diffusers' layout (diffusion_pytorch_model.safetensors)
        names = diffusers_to_ldm(diffusers_structure(list(sd)), list(sd))
        sd = {names[key]: value for key, value in sd.items() if key in names}
    try:
        return unet_from_state_dict(sd, markers=markers, devices=devices)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a UNet file: expected keys like 'input_blocks.0.0.weight' (original layout) or "
            f"'conv_in.weight' and 'down_blocks.*' (diffusers' layout) ({e})"
        ) from e


def load_text_encoder(path: str | Path, devices: Devices = AUTO) -> Any:
    """A standalone text-encoder file (transformers' or OpenCLIP's names, optionally under a checkpoint prefix),
    read in the style of the family its width belongs to: 768 CLIP-L (SD1), 1024 OpenCLIP-H (SD2), 1280 bigG
    (the SDXL refiner); it computes as ``devices`` says."""
    path = Path(path)
    sd = read_weights(path, model_dtypes(devices))
    for prefix in TEXT_ENCODER_PREFIXES:
        if has_prefix(sd, prefix):
            sd = with_prefix(sd, prefix)
            break
    if has_prefix(sd, "transformer.text_model."):  # ComfyUI's own saves of CLIP-L
        sd = with_prefix(sd, "transformer.")
    try:
        return clip_from_state_dict(sd, style_for_width(text_encoder_width(sd)), devices)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a CLIP text encoder: expected transformers' names "
                              f"('text_model.encoder.layers.*') or OpenCLIP's ('transformer.resblocks.*') ({e})") from e


def dual_text_encoders(first: Any, second: Any) -> Any:
    """SDXL's pair from two single encoders given in either order: the narrower is CLIP-L, the wider bigG; each is
    read as SDXL reads it."""
    clip_l, clip_g = sorted([first, second], key=lambda encoder: encoder.width)
    widths = (clip_l.width, clip_g.width)
    expected = tuple(slot.width for slot in SDXL.text_encoders)
    if widths != expected and max(widths) >= min(expected):  # tiny test encoders are exempt
        raise CheckpointError(f"SDXL needs CLIP-L ({expected[0]} wide) and OpenCLIP-bigG ({expected[1]} wide); "
                              f"these text encoders are {widths[0]} and {widths[1]} wide")
    encoders = {slot.name: encoder.with_style(slot.style) for slot, encoder in zip(SDXL.text_encoders,
                                                                                  (clip_l, clip_g), strict=True)}
    return SDXL.text_encoder_value(encoders)
