"""Single-file Stable Diffusion checkpoints (SD1.x, SD2.x, SDXL base and refiner, and their inpainting
variants): the family read from the tensors, the parts read, and checkpoints written back in the same layout.

Reading never caches: each call reads the file and returns fresh objects (the runtime's model cache owns loaded
models)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from engine.device import AUTO, Devices
from engine.sd.components import (
    CheckpointError,
    checkpoint_dtypes,
    clip_from_state_dict,
    read_weights,
    unet_from_state_dict,
    vae_from_state_dict,
)
from engine.sd.families import FAMILIES, UNET_PREFIX, VAE_PREFIX, ModelFamily, describe_layouts, family_of_checkpoint
from engine.sd.model import DiffusionModel
from engine.sd.state_dict import has_prefix, with_prefix
from engine.sd.vae import VAE

EXPECTED = (f"keys starting with {UNET_PREFIX!r} and {VAE_PREFIX!r}, and text encoders under "
            f"{describe_layouts(FAMILIES[::-1])}")

# Marker keys of families we recognise but cannot run: (prefix or key, family name).
_UNSUPPORTED_MARKERS = [
    (UNET_PREFIX + "joint_blocks.", "SD3 (model.diffusion_model.joint_blocks.*)"),
    (UNET_PREFIX + "double_blocks.", "Flux (model.diffusion_model.double_blocks.*)"),
]


def read_checkpoint(path: str | Path, devices: Devices = AUTO) -> tuple[DiffusionModel, Any, VAE]:
    """(MODEL, CLIP, VAE) of a single-file SD1.x, SD2.x or SDXL checkpoint, read afresh, each part computing as
    ``devices`` says. Weights are read straight into the dtype each part computes in on the CPU (nothing else stays
    resident); raises ``CheckpointError`` naming ``path`` for files that are not a checkpoint we can run."""
    model, clip, vae, _ = read_checkpoint_parts(path, devices, with_clip_vision=False)
    return model, clip, vae


def read_unclip_checkpoint(path: str | Path, devices: Devices = AUTO) -> tuple[DiffusionModel, Any, VAE, Any]:
    """(MODEL, CLIP, VAE, CLIP_VISION) of a checkpoint that holds a CLIP vision tower (SD2.1 unCLIP), read afresh;
    raises ``CheckpointError`` for checkpoints without one."""
    parts = read_checkpoint_parts(path, devices, with_clip_vision=True)
    if parts[3] is None:
        raise CheckpointError(f"{path}: no CLIP vision encoder in this checkpoint (SD2.1 unCLIP checkpoints keep it "
                              "under 'embedder.model.visual.'); load it with CheckpointLoaderSimple, or load a CLIP "
                              "vision file with CLIPVisionLoader")
    return parts


def read_checkpoint_parts(path: str | Path, devices: Devices = AUTO, with_clip_vision: bool = False
                          ) -> tuple[DiffusionModel, Any, VAE, Any]:
    """(MODEL, CLIP, VAE, CLIP_VISION or None) of a single-file checkpoint; the CLIP vision tower is read only when
    asked for and the family keeps one."""
    path = Path(path)
    file_dtypes: dict[str, torch.dtype] = {}
    sd = read_weights(path, _recording(checkpoint_dtypes(VAE_PREFIX, devices), file_dtypes))
    family = checkpoint_family(sd, path)
    prefixes = family.checkpoint_prefixes()
    markers = [key for key in sd if not key.startswith((prefixes["unet"], prefixes["vae"]))]
    try:
        model = unet_from_state_dict(with_prefix(sd, prefixes["unet"]), family, markers, devices)
        vae = vae_from_state_dict(with_prefix(sd, prefixes["vae"]), devices)
        encoders = {slot.name: clip_from_state_dict(with_prefix(sd, slot.prefix), slot.style, devices)
                    for slot in family.text_encoders}
        clip_vision = _clip_vision(sd, family, devices) if with_clip_vision else None
    except CheckpointError as e:  # a known model we cannot run; the message says which
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: unexpected tensor layout for an {family.display_name} checkpoint ({e})") from e
    model.file_dtype = _first_with_prefix(file_dtypes, prefixes["unet"])
    vae.file_dtype = _first_with_prefix(file_dtypes, prefixes["vae"])
    for slot in family.text_encoders:
        encoders[slot.name].file_dtype = _first_with_prefix(file_dtypes, slot.prefix)
    return model, family.text_encoder_value(encoders), vae, clip_vision


def _clip_vision(sd: Mapping[str, torch.Tensor], family: ModelFamily, devices: Devices) -> Any:
    if family.clip_vision_prefix is None or not has_prefix(sd, family.clip_vision_prefix):
        return None
    from engine.sd.clip_vision import clip_vision_from_state_dict  # pulls in transformers, which is slow to import

    return clip_vision_from_state_dict(sd, family.clip_vision_prefix, devices)


def _recording(dtype_for: Callable[[str, torch.dtype], torch.dtype],
               stored: dict[str, torch.dtype]) -> Callable[[str, torch.dtype], torch.dtype]:
    """``dtype_for`` that also notes each floating-point tensor's dtype in the file, by key."""

    def read_as(key: str, dtype: torch.dtype) -> torch.dtype:
        if dtype.is_floating_point:
            stored[key] = dtype
        return dtype_for(key, dtype)

    return read_as


def _first_with_prefix(dtypes: Mapping[str, torch.dtype], prefix: str) -> torch.dtype | None:
    return next((dtype for key, dtype in dtypes.items() if key.startswith(prefix)), None)


def checkpoint_family(sd: Mapping[str, torch.Tensor], path: str | Path) -> ModelFamily:
    """The family of a single-file checkpoint from its text encoders' keys; raises ``CheckpointError`` naming
    ``path`` when it is not one we can load."""
    for marker, name in _UNSUPPORTED_MARKERS:
        if has_prefix(sd, marker):
            raise CheckpointError(f"{path}: {name} checkpoints are not supported; expected {EXPECTED}")
    missing = [p for p in (UNET_PREFIX, VAE_PREFIX) if not has_prefix(sd, p)]
    family = family_of_checkpoint(sd)
    if missing or family is None:
        raise CheckpointError(
            f"{path}: not a Stable Diffusion checkpoint: no keys starting with "
            f"{', '.join(map(repr, missing or ['a known text encoder prefix']))}; expected {EXPECTED}; "
            f"found e.g. {sorted(sd)[:5]}"
        )
    conv_in_key = family.unet_prefix + "input_blocks.0.0.weight"
    conv_in = sd.get(conv_in_key)
    channels = family.latent_format.channels
    if conv_in is not None and conv_in.shape[1] not in (channels, channels + 5, 2 * channels):
        raise CheckpointError(
            f"{path}: UNet with {conv_in.shape[1]} input channels is not supported; expected {channels}, "
            f"{channels + 5} for inpainting models or {2 * channels} for InstructPix2Pix models ({conv_in_key})"
        )
    return family


def checkpoint_state_dict(model: DiffusionModel, clip: Any, vae: VAE) -> dict[str, torch.Tensor]:
    """Model, text encoders and VAE (patches applied) in the single-file layout of the model's family, the layout
    ComfyUI and A1111 read; each part's weights in the dtype its file had (as held, for parts not read from a
    file)."""
    from engine.sd.openclip_convert import hf_to_openclip

    family = model.family
    prefixes = family.checkpoint_prefixes()
    tensors = {prefixes["unet"] + k: _as(v, model.file_dtype) for k, v in model.patched_state_dict().items()}
    tensors.update({prefixes["vae"] + k: _as(v, vae.file_dtype) for k, v in vae.model.state_dict().items()})
    encoders = family.encoders_of(clip)
    slots = {slot.name: slot for slot in family.text_encoders}
    if set(encoders) != set(slots):
        raise ValueError(f"a {family.display_name} model needs text encoders {sorted(slots)}, got {sorted(encoders)}")
    for name, encoder in encoders.items():
        weights = encoder.patched_state_dict()
        if encoder.style.save_layout == "openclip":
            weights = hf_to_openclip(weights)
        tensors.update({slots[name].prefix + k: _as(v, encoder.file_dtype) for k, v in weights.items()})
    return tensors


def _as(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """A floating-point weight back in its file's dtype (an fp16 file read as bf16 or fp32 saves as fp16)."""
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
