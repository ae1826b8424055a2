"""ComfyUI's ``comfy.sampler_helpers``: helpers around sampling, as views of Atelier's conventions.

Atelier keeps conditioning in the CONDITIONING socket's list form and loads models where they compute on first
use (no separate loading step), so ``convert_cond`` gives ComfyUI's dict form for plug-ins that read it, and the
model-loading helpers have nothing to load.
"""

from __future__ import annotations

from typing import Any


def prepare_mask(noise_mask: Any, shape: Any, device: Any) -> Any:
    """An inpainting mask resized (bilinear) to the latent's size and channel count, on ``device``."""
    import torch
    import torch.nn.functional as F

    mask = noise_mask.reshape((-1, 1, noise_mask.shape[-2], noise_mask.shape[-1]))
    mask = F.interpolate(mask, size=(shape[2], shape[3]), mode="bilinear")
    mask = torch.cat([mask] * shape[1], dim=1)
    repeats = -(-shape[0] // mask.shape[0])
    return mask.repeat(repeats, 1, 1, 1)[: shape[0]].to(device)


def convert_cond(cond: list) -> list[dict]:
    """ComfyUI's dict form of a CONDITIONING list: each entry's options with ``cross_attn`` and
    ``model_conds`` (left empty: Atelier builds the model's extra inputs while sampling)."""
    out = []
    for tensor, options in cond:
        entry = dict(options)
        if tensor is not None:
            entry["cross_attn"] = tensor
        entry["model_conds"] = {}
        out.append(entry)
    return out


def get_models_from_cond(cond: list, model_type: str) -> list:
    """The ``model_type`` entries of a conditioning, in ComfyUI's dict form (``convert_cond``, what ComfyUI passes
    here) or the CONDITIONING list form; an entry holding a list gives each of its models."""
    models: list = []
    for entry in cond:
        options = entry if isinstance(entry, dict) else entry[1]
        if model_type in options:
            found = options[model_type]
            models += found if isinstance(found, list) else [found]
    return models


def get_additional_models(conds: dict, dtype: Any) -> tuple[list, int]:
    """ControlNets and other models the conditionings carry; Atelier loads them on use, so there is no memory
    to add."""
    models: list = []
    for cond in conds.values():
        models += get_models_from_cond(cond, "control") + get_models_from_cond(cond, "gligen")
    return models, 0


def cleanup_additional_models(models: Any) -> None:
    """Nothing to clean up: Atelier's model cache owns the weights."""


def prepare_sampling(model: Any, noise_shape: Any, conds: dict, model_options: dict | None = None) -> tuple:
    """(``model.model``, conds, additional models), as ComfyUI returns them; Atelier needs no preparation."""
    return getattr(model, "model", model), conds, get_additional_models(conds, None)[0]


def cleanup_models(conds: dict, models: Any) -> None:
    """Nothing to clean up (see ``cleanup_additional_models``)."""
