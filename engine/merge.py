"""Model merging as ComfyUI does it: one model's weights combined with another's as patches on a clone (computed in
float32), and a model, its text encoders and VAE written back as one single-file checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import torch

if TYPE_CHECKING:
    from engine.sd.clip import ClipTextModel
    from engine.sd.dual_clip import DualClip
    from engine.sd.model import DiffusionModel
    from engine.sd.vae import VAE

log = logging.getLogger(__name__)

Combine = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (own weight, other weight) -> merged weight
SKIP_CLIP = ("position_ids", "logit_scale")  # bookkeeping tensors of text encoders, never merged

P = TypeVar("P", bound="Patchable")


class Patchable(Protocol):
    """A MODEL or CLIP: clones share weights, and patches change a clone's weights when it runs."""

    def clone(self: P) -> P: ...

    def add_patch(self, key: str, patch: Callable[[torch.Tensor], torch.Tensor]) -> None: ...


def weighted(ratio: float) -> Combine:
    """``own * ratio + other * (1 - ratio)``."""
    return lambda own, other: own * ratio + other * (1 - ratio)


def added(own: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return own + other


def subtracted(multiplier: float) -> Combine:
    """``own - other * multiplier``."""
    return lambda own, other: own - other * multiplier


def merge_models(model: DiffusionModel, other: DiffusionModel, combine: Combine) -> DiffusionModel:
    """A clone of ``model`` whose UNet weights are ``combine(model's, other's)``; ``other``'s patches count."""
    return _merge(model, model.unet.state_dict(), other.patched_state_dict(), lambda key: combine)


def merge_models_by_blocks(model: DiffusionModel, other: DiffusionModel, ratios: Sequence[tuple[str, float]]
                           ) -> DiffusionModel:
    """``merge_models`` with ``weighted(ratio)``, the ratio of each UNet weight (``input_blocks.4.1.proj_in.weight``)
    that of the longest of the ``(prefix, ratio)`` pairs its name starts with, the first pair's where none does
    (ComfyUI's ModelMergeBlocks and its per-model variants)."""

    def combine_for(key: str) -> Combine:
        matching = [(len(prefix), ratio) for prefix, ratio in ratios if key.startswith(prefix)]
        return weighted(max(matching, key=lambda match: match[0])[1] if matching else ratios[0][1])

    return _merge(model, model.unet.state_dict(), other.patched_state_dict(), combine_for)


def merge_text_encoders(clip: ClipTextModel | DualClip, other: ClipTextModel | DualClip,
                        combine: Combine) -> ClipTextModel | DualClip:
    """A clone of ``clip`` whose weights are ``combine(clip's, other's)``, both with their patches applied."""
    return _merge(clip, clip.patched_state_dict(), other.patched_state_dict(), lambda key: combine)


def _merge(target: P, own: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor],
           combine_for: Callable[[str], Combine]) -> P:
    """A clone of ``target`` patched with ``combine_for(key)(own, other)`` in float32 (fp8 has no arithmetic on the
    CPU). Weights whose shapes differ (an inpainting UNet's 9-channel input against a 4-channel one) keep their own
    value, with a warning, as ComfyUI does."""
    merged = target.clone()
    mismatched = []
    for key, weight in own.items():
        if key not in other or key.endswith(SKIP_CLIP):
            continue
        theirs = other[key]
        if theirs.shape != weight.shape:
            mismatched.append(f"{key} {tuple(weight.shape)} vs {tuple(theirs.shape)}")
            continue
        combine = combine_for(key)
        merged.add_patch(key, lambda w, theirs=theirs, combine=combine: combine(w.float(), theirs.float()).to(w.dtype))
    if mismatched:
        log.warning("shapes differ, weights not merged: %s", "; ".join(mismatched))
    return merged


def save_checkpoint(model: DiffusionModel, clip: ClipTextModel | DualClip, vae: VAE, path: Path) -> None:
    """Model, text encoders and VAE (patches and merges applied) as one safetensors file in the layout of the
    model's family (SD1.x, SD2.x, SDXL), the layout ComfyUI and A1111 read."""
    from safetensors.torch import save_file

    from engine.sd.checkpoint import checkpoint_state_dict

    tensors = checkpoint_state_dict(model, clip, vae)
    save_file({key: value.detach().contiguous() for key, value in tensors.items()}, str(path))
