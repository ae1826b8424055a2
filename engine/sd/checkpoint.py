"""Load single-file Stable Diffusion checkpoints and standalone VAE / UNet files into engine objects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.model_cache import MODEL_CACHE, ModelCache
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.latent_format import SD15
from engine.sd.materialize import build_with_weights
from engine.sd.model import DiffusionModel
from engine.sd.state_dict import WeightsFileError, has_prefix, load_state_dict, with_prefix
from engine.sd.unet import UNetModel, detect_unet_config
from engine.sd.vae import VAE, AutoencoderKL, detect_vae_config
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
SD1_EXPECTED = f"keys starting with {UNET_PREFIX!r}, {VAE_PREFIX!r} and {CLIP_PREFIX!r} (an SD1.x checkpoint)"

# Marker keys of families we recognise but cannot run yet: (prefix or key, family name).
_UNSUPPORTED_MARKERS = [
    ("conditioner.embedders.", "SDXL (conditioner.embedders.* text encoders)"),
    ("cond_stage_model.model.", "SD2.x (OpenCLIP text encoder cond_stage_model.model.*)"),
    (UNET_PREFIX + "label_emb.", "SDXL-style UNet (model.diffusion_model.label_emb.*)"),
    (UNET_PREFIX + "joint_blocks.", "SD3 (model.diffusion_model.joint_blocks.*)"),
    (UNET_PREFIX + "double_blocks.", "Flux (model.diffusion_model.double_blocks.*)"),
]


class CheckpointError(ValueError):
    """A file that is not (or not yet) a loadable model; the message names the file and what was expected."""


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_state_dict(path)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from e


def load_checkpoint(path: str | Path, cache: ModelCache = MODEL_CACHE) -> tuple[DiffusionModel, Any, VAE]:
    """(MODEL, CLIP, VAE) of a single-file SD1.x checkpoint; the file is read once while unchanged."""
    model, clip, vae = cache.get_or_load(path, "checkpoint", _read_checkpoint)
    return model.clone(), clip, vae


def load_vae(path: str | Path, cache: ModelCache = MODEL_CACHE) -> VAE:
    """A standalone VAE file in LDM layout (optionally under ``first_stage_model.`` or ``vae.``) or diffusers
    layout."""
    return cache.get_or_load(path, "vae", _read_vae)


def load_diffusion_model(path: str | Path, cache: ModelCache = MODEL_CACHE) -> DiffusionModel:
    """A UNet-only file (keys with or without ``model.diffusion_model.``)."""
    return cache.get_or_load(path, "unet", _read_unet).clone()


def unet_from_state_dict(sd: Mapping[str, torch.Tensor]) -> DiffusionModel:
    """An SD1.x ``DiffusionModel`` from UNet keys without prefix; weights are adopted, not copied."""
    unet = build_with_weights(lambda: UNetModel(detect_unet_config(sd)), sd)
    return DiffusionModel(unet, ModelSamplingDiscrete(prediction="eps"), SD15)


def vae_from_state_dict(sd: Mapping[str, torch.Tensor]) -> VAE:
    """A ``VAE`` from LDM-layout keys without prefix (diffusers layout is converted)."""
    if is_diffusers_vae(sd):
        sd = diffusers_vae_to_ldm(sd)
    vae_keys = {k: v for k, v in sd.items() if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant"))}
    model = build_with_weights(lambda: AutoencoderKL(detect_vae_config(vae_keys)), vae_keys)
    return VAE(model, SD15)


def clip_from_state_dict(sd: Mapping[str, torch.Tensor]) -> Any:
    """The SD1 text encoder from ``cond_stage_model.transformer.`` keys, given without that prefix."""
    # Imported here: the text encoder pulls in transformers, which is slow to import.
    from engine.sd.clip import load_clip_from_state_dict

    # Some old checkpoints store the text model without the ``text_model.`` level.
    hf = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in sd.items()}
    return load_clip_from_state_dict(hf)


def _read_checkpoint(path: Path) -> tuple[DiffusionModel, Any, VAE]:
    sd = _read_weights(path)
    check_sd1_checkpoint(sd, path)
    unet_sd = with_prefix(sd, UNET_PREFIX)
    vae_sd = with_prefix(sd, VAE_PREFIX)
    clip_sd = with_prefix(sd, CLIP_PREFIX)
    del sd  # DDPM schedule buffers and EMA copies are not used
    try:
        model = unet_from_state_dict(unet_sd)
        vae = vae_from_state_dict(vae_sd)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: unexpected tensor layout for an SD1.x checkpoint ({e})") from e
    return model, clip_from_state_dict(clip_sd), vae


def check_sd1_checkpoint(sd: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Raise ``CheckpointError`` naming ``path`` unless ``sd`` looks like an SD1.x checkpoint we can load."""
    for marker, family in _UNSUPPORTED_MARKERS:
        if has_prefix(sd, marker):
            raise CheckpointError(f"{path}: {family} checkpoints are not supported yet; expected {SD1_EXPECTED}")
    missing = [p for p in (UNET_PREFIX, VAE_PREFIX, CLIP_PREFIX) if not has_prefix(sd, p)]
    if missing:
        raise CheckpointError(
            f"{path}: not a Stable Diffusion checkpoint: no keys starting with {', '.join(map(repr, missing))}; "
            f"expected {SD1_EXPECTED}; found e.g. {sorted(sd)[:5]}"
        )
    conv_in = sd.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is not None and conv_in.shape[1] != 4:
        raise CheckpointError(
            f"{path}: UNet with {conv_in.shape[1]} input channels (inpainting/instruct models) is not "
            f"supported yet; expected 4 (model.diffusion_model.input_blocks.0.0.weight)"
        )
    proj_in = sd.get(UNET_PREFIX + "input_blocks.1.1.proj_in.weight")
    if proj_in is not None and proj_in.ndim == 2:
        raise CheckpointError(
            f"{path}: UNet with linear transformer projections (SD2.x style, "
            f"model.diffusion_model.input_blocks.1.1.proj_in.weight is 2-D) is not supported yet; "
            f"SD1.x uses 1x1 convolutions"
        )


def _read_vae(path: Path) -> VAE:
    sd = _read_weights(path)
    for prefix in (VAE_PREFIX, "vae."):
        if has_prefix(sd, prefix):
            sd = with_prefix(sd, prefix)
    try:
        return vae_from_state_dict(sd)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a KL VAE file: expected keys like 'encoder.conv_in.weight' and "
            f"'decoder.conv_out.weight' (LDM or diffusers layout) ({e})"
        ) from e


def _read_unet(path: Path) -> DiffusionModel:
    sd = _read_weights(path)
    if has_prefix(sd, UNET_PREFIX):
        sd = with_prefix(sd, UNET_PREFIX)
    try:
        return unet_from_state_dict(sd)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not an LDM UNet file: expected keys like 'input_blocks.0.0.weight' ({e})"
        ) from e
