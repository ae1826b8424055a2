"""Model merging and saving: weights combined as patches on clones, and written back as one checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from safetensors.torch import save_file

from engine.sd.checkpoint import checkpoint_state_dict
from nodes.api import Float, Node, NodeResult, Output, Socket, String
from nodes.builtin.image import next_counter
from nodes.folders import folders, safe_join

log = logging.getLogger(__name__)
Combine = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SKIP_CLIP = ("position_ids", "logit_scale")


def _merge(target: Any, other_weights: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor],
           combine: Combine) -> Any:
    """A clone of ``target`` whose weights are ``combine(own, other)``, computed in float32 (fp8 has no arithmetic on
    the CPU). Weights whose shapes differ (an inpainting UNet's 9-channel input against a 4-channel one) keep their
    own value, with a warning, as ComfyUI does."""
    merged = target.clone()
    mismatched = []
    for key, weight in own.items():
        if key not in other_weights or key.endswith(SKIP_CLIP):
            continue
        other = other_weights[key]
        if other.shape != weight.shape:
            mismatched.append(f"{key} {tuple(weight.shape)} vs {tuple(other.shape)}")
            continue
        merged.add_patch(key, lambda w, other=other: combine(w.float(), other.float()).to(w.dtype))
    if mismatched:
        log.warning("shapes differ, weights not merged: %s", "; ".join(mismatched))
    return merged


def _unet_weights(model: Any) -> Mapping[str, torch.Tensor]:
    return model.unet.state_dict()


class ModelMergeSimple(Node):
    """model1 * ratio + model2 * (1 - ratio)."""

    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"), Float("ratio", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model1: Any, model2: Any, ratio: float) -> tuple:
        weights = model2.patched_state_dict()
        return (_merge(model1, weights, _unet_weights(model1), lambda a, b: a * ratio + b * (1 - ratio)),)


class ModelMergeAdd(Node):
    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL")]
    outputs = [Output("MODEL")]

    def execute(self, model1: Any, model2: Any) -> tuple:
        return (_merge(model1, model2.patched_state_dict(), _unet_weights(model1), lambda a, b: a + b),)


class ModelMergeSubtract(Node):
    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"),
              Float("multiplier", 1.0, min=-10.0, max=10.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model1: Any, model2: Any, multiplier: float) -> tuple:
        return (_merge(model1, model2.patched_state_dict(), _unet_weights(model1), lambda a, b: a - b * multiplier),)


class CLIPMergeSimple(Node):
    category = "advanced/model_merging"
    inputs = [Socket("clip1", "CLIP"), Socket("clip2", "CLIP"), Float("ratio", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("CLIP")]

    def execute(self, clip1: Any, clip2: Any, ratio: float) -> tuple:
        weights = clip2.patched_state_dict()
        return (_merge(clip1, weights, clip1.patched_state_dict(), lambda a, b: a * ratio + b * (1 - ratio)),)


class CheckpointSave(Node):
    """Writes model, text encoders and VAE (patches and merges applied) as one single-file checkpoint in the layout
    of the model's family (SD1.x, SD2.x, SDXL)."""

    display_name = "Save Checkpoint"
    category = "advanced/model_merging"
    output_node = True
    inputs = [Socket("model", "MODEL"), Socket("clip", "CLIP"), Socket("vae", "VAE"),
              String("filename_prefix", "checkpoints/ComfyUI")]
    outputs = []

    def execute(self, model: Any, clip: Any, vae: Any, filename_prefix: str) -> NodeResult:
        tensors = checkpoint_state_dict(model, clip, vae)
        target = safe_join(folders().output_dir, filename_prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        path = target.parent / f"{target.name}_{next_counter(target.parent, target.name):05}_.safetensors"
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path))
        return NodeResult((), {"text": [f"saved {path.relative_to(folders().output_dir)}"]})


NODES = [ModelMergeSimple, ModelMergeAdd, ModelMergeSubtract, CLIPMergeSimple, CheckpointSave]
