"""Single-file Stable Diffusion checkpoints (SD1.x, SD2.x, SDXL base and refiner, and their inpainting
variants): the family read from the tensors, the parts loaded, and checkpoints written back in the same layout."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.model_cache import MODEL_CACHE, ModelCache
from engine.sd.components import (
    CheckpointError,
    clip_from_state_dict,
    read_weights,
    unet_from_state_dict,
    vae_from_state_dict,
)
from engine.sd.model import DiffusionModel
from engine.sd.state_dict import has_prefix, with_prefix
from engine.sd.vae import VAE

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."  # SD1: CLIP-L in transformers' names
OPENCLIP_PREFIX = "cond_stage_model.model."  # SD2: OpenCLIP-H
SDXL_L_PREFIX = "conditioner.embedders.0.transformer."  # SDXL base: CLIP-L ...
SDXL_G_PREFIX = "conditioner.embedders.1.model."  # ... and OpenCLIP-bigG
REFINER_G_PREFIX = "conditioner.embedders.0.model."  # SDXL refiner: bigG alone
EXPECTED = (f"keys starting with {UNET_PREFIX!r} and {VAE_PREFIX!r}, and text encoders under {CLIP_PREFIX!r} "
            f"(SD1.x), {OPENCLIP_PREFIX!r} (SD2.x) or 'conditioner.embedders.' (SDXL)")
# Text encoders by family: (checkpoint prefix, encoder style, stored in OpenCLIP names).
TEXT_ENCODERS = {
    "sd1": {"clip_l": CLIP_PREFIX},
    "sd2": {"clip_h": OPENCLIP_PREFIX},
    "sdxl": {"clip_l": SDXL_L_PREFIX, "clip_g": SDXL_G_PREFIX},
    "sdxl_refiner": {"clip_g": REFINER_G_PREFIX},
}

# Marker keys of families we recognise but cannot run: (prefix or key, family name).
_UNSUPPORTED_MARKERS = [
    (UNET_PREFIX + "joint_blocks.", "SD3 (model.diffusion_model.joint_blocks.*)"),
    (UNET_PREFIX + "double_blocks.", "Flux (model.diffusion_model.double_blocks.*)"),
]


def load_checkpoint(path: str | Path, cache: ModelCache = MODEL_CACHE) -> tuple[DiffusionModel, Any, VAE]:
    """(MODEL, CLIP, VAE) of a single-file SD1.x, SD2.x or SDXL checkpoint; the file is read once while unchanged."""
    model, clip, vae = cache.get_or_load(path, "checkpoint", _read_checkpoint)
    return model.clone(), clip, vae


def _text_encoders(sd: Mapping[str, torch.Tensor], family: str) -> Any:
    if family == "sd1":
        return clip_from_state_dict(with_prefix(sd, CLIP_PREFIX), "sd1")
    if family == "sd2":
        return clip_from_state_dict(with_prefix(sd, OPENCLIP_PREFIX), "sd2")
    if family == "sdxl_refiner":
        return clip_from_state_dict(with_prefix(sd, REFINER_G_PREFIX), "sdxl_g")
    from engine.sd.dual_clip import DualClip

    return DualClip(clip_from_state_dict(with_prefix(sd, SDXL_L_PREFIX), "sdxl_l"),
                    clip_from_state_dict(with_prefix(sd, SDXL_G_PREFIX), "sdxl_g"))


def checkpoint_family(sd: Mapping[str, torch.Tensor], path: str | Path) -> str:
    """The family of a single-file checkpoint from its text encoder's keys; raises ``CheckpointError`` naming
    ``path`` when it is not one we can load."""
    for marker, family in _UNSUPPORTED_MARKERS:
        if has_prefix(sd, marker):
            raise CheckpointError(f"{path}: {family} checkpoints are not supported; expected {EXPECTED}")
    missing = [p for p in (UNET_PREFIX, VAE_PREFIX) if not has_prefix(sd, p)]
    families = [name for name, encoders in TEXT_ENCODERS.items()
                if all(has_prefix(sd, prefix) for prefix in encoders.values())]
    if missing or not families:
        raise CheckpointError(
            f"{path}: not a Stable Diffusion checkpoint: no keys starting with "
            f"{', '.join(map(repr, missing or ['a known text encoder prefix']))}; expected {EXPECTED}; "
            f"found e.g. {sorted(sd)[:5]}"
        )
    family = families[0]
    conv_in = sd.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is not None and conv_in.shape[1] not in (4, 9):
        raise CheckpointError(
            f"{path}: UNet with {conv_in.shape[1]} input channels is not supported (instruct-pix2pix style models); "
            f"expected 4, or 9 for inpainting models (model.diffusion_model.input_blocks.0.0.weight)"
        )
    return family


def _read_checkpoint(path: Path) -> tuple[DiffusionModel, Any, VAE]:
    sd = read_weights(path)
    family = checkpoint_family(sd, path)
    unet_sd = with_prefix(sd, UNET_PREFIX)
    vae_sd = with_prefix(sd, VAE_PREFIX)
    markers = [key for key in sd if not key.startswith((UNET_PREFIX, VAE_PREFIX))]
    try:
        model = unet_from_state_dict(unet_sd, family, markers)
        vae = vae_from_state_dict(vae_sd)
        clip = _text_encoders(sd, family)
    except CheckpointError as e:  # a known model we cannot run; the message says which
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: unexpected tensor layout for an {FAMILY_NAMES[family]} checkpoint ({e})") from e
    return model, clip, vae


FAMILY_NAMES = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner"}


def checkpoint_state_dict(model: DiffusionModel, clip: Any, vae: VAE) -> dict[str, torch.Tensor]:
    """Model, text encoders and VAE (patches applied) in the single-file layout of the model's family, the layout
    ComfyUI and A1111 read."""
    from engine.sd.openclip_convert import hf_to_openclip

    tensors = {UNET_PREFIX + k: v for k, v in model.patched_state_dict().items()}
    tensors.update({VAE_PREFIX + k: v for k, v in vae.model.state_dict().items()})
    encoders = getattr(clip, "encoders", None) or {next(iter(TEXT_ENCODERS[model.family])): clip}
    prefixes = TEXT_ENCODERS[model.family]
    if set(encoders) != set(prefixes):
        raise ValueError(f"a {FAMILY_NAMES[model.family]} model needs text encoders {sorted(prefixes)}, "
                         f"got {sorted(encoders)}")
    for name, encoder in encoders.items():
        weights = encoder.patched_state_dict()
        if encoder.style.save_layout == "openclip":
            weights = hf_to_openclip(weights)
        tensors.update({prefixes[name] + k: v for k, v in weights.items()})
    return tensors
