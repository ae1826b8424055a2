"""Image-only checkpoints (ComfyUI's ImageOnlyCheckpointLoader: Stable Video Diffusion, Stable Zero123): a
diffusion model conditioned on an image, its CLIP vision tower and its VAE, without a text encoder.

Atelier cannot run these diffusion models (SVD's UNet has temporal layers, Zero123's takes extra image channels and
a camera projection), nor SVD's temporal VAE decoder. What it can read is returned for real (the CLIP vision
tower, an image VAE); what it cannot is an ``Unrunnable`` value that says so the moment anything uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.device import AUTO, Devices
from engine.sd.components import CheckpointError, checkpoint_dtypes, read_weights, vae_from_state_dict
from engine.sd.families import UNET_PREFIX, VAE_PREFIX
from engine.sd.state_dict import has_prefix, with_prefix

# Where ComfyUI's image-only models keep their CLIP vision tower (supported_models: SVD_img2vid, Stable_Zero123).
CLIP_VISION_PREFIXES = ("conditioner.embedders.0.open_clip.model.visual.", "cond_stage_model.model.visual.")
TEMPORAL_MARKERS = ("time_stack.", "time_mixer.", "mix_factor")


class Unrunnable:
    """Stands for a part of a checkpoint Atelier cannot run: any use raises ``AttributeError`` with ``reason``."""

    def __init__(self, reason: str) -> None:
        object.__setattr__(self, "reason", reason)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(self.reason)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(self.reason)

    def __repr__(self) -> str:
        return f"<not runnable: {self.reason}>"

    def memory_bytes(self) -> int:
        return 0


def is_temporal(sd: Mapping[str, torch.Tensor], prefix: str) -> bool:
    return any(key.startswith(prefix) and marker in key for key in sd for marker in TEMPORAL_MARKERS)


def read_image_only_checkpoint(path: str | Path, devices: Devices = AUTO) -> tuple[Unrunnable, Any, Any]:
    """(MODEL, CLIP_VISION, VAE) of an image-only checkpoint: the MODEL always an ``Unrunnable``, the VAE too when
    it is SVD's temporal one; raises ``CheckpointError`` when the file has no CLIP vision tower or VAE."""
    from engine.sd.clip_vision import ClipVisionError, clip_vision_from_state_dict

    path = Path(path)
    sd = read_weights(path, checkpoint_dtypes(VAE_PREFIX, devices))
    prefix = next((p for p in CLIP_VISION_PREFIXES if has_prefix(sd, p)), None)
    if prefix is None or not has_prefix(sd, VAE_PREFIX):
        raise CheckpointError(f"{path}: not an image-only checkpoint: expected a CLIP vision tower under one of "
                              f"{', '.join(map(repr, CLIP_VISION_PREFIXES))} and a VAE under {VAE_PREFIX!r}")
    try:
        clip_vision = clip_vision_from_state_dict(sd, prefix, devices)
    except (ClipVisionError, KeyError) as e:
        raise CheckpointError(f"{path}: {e}") from e
    kind = "Stable Video Diffusion's video UNet" if is_temporal(sd, UNET_PREFIX) else "this image-conditioned UNet"
    model = Unrunnable(f"{path.name}: Atelier cannot run {kind} (ImageOnlyCheckpointLoader gives its CLIP_VISION "
                       "and VAE; its MODEL cannot sample)")
    if is_temporal(sd, VAE_PREFIX):
        vae: Any = Unrunnable(f"{path.name}: Atelier cannot run Stable Video Diffusion's temporal VAE decoder; use an "
                              "image VAE (VAELoader)")
    else:
        vae = vae_from_state_dict(with_prefix(sd, VAE_PREFIX), devices)
    return model, clip_vision, vae
