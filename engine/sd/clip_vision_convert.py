"""CLIP vision towers in the layouts files use, renamed to transformers' ``CLIPVisionModelWithProjection`` names.

- transformers' own (``vision_model.*``, ``visual_projection.weight``): ComfyUI's ``clip_vision`` files, the
  IP-Adapter image encoders; read as they are.
- OpenAI's and OpenCLIP's ``visual.*`` (``conv1``, ``transformer.resblocks.N.attn.in_proj_weight``, ``proj``):
  full CLIP files and the towers inside checkpoints (SD2.1 unCLIP's ``embedder.model.visual.``, Stable Video
  Diffusion's ``conditioner.embedders.0.open_clip.model.visual.``). q, k and v are one ``in_proj`` tensor there,
  and the projection is ``x @ proj`` (transformers' weight is its transpose).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from engine.sd.openclip_convert import resblock_to_hf

HF_PREFIX = "vision_model."
_TOP = {
    "class_embedding": "vision_model.embeddings.class_embedding",
    "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "ln_post.weight": "vision_model.post_layernorm.weight",
    "ln_post.bias": "vision_model.post_layernorm.bias",
}


def is_openclip_visual(sd: Mapping[str, torch.Tensor], prefix: str = "") -> bool:
    return f"{prefix}transformer.resblocks.0.attn.in_proj_weight" in sd


def vision_tower(sd: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """The tower under ``prefix`` in transformers' names (other keys, such as a text tower, are left out)."""
    if is_openclip_visual(sd, prefix):
        return openclip_visual_to_hf({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)})
    tower = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return {k: v for k, v in tower.items() if k.startswith((HF_PREFIX, "visual_projection."))}


def openclip_visual_to_hf(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenAI/OpenCLIP ``visual`` names (prefix removed) to transformers' names; q/k/v are views, not copies."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key in _TOP:
            out[_TOP[key]] = value
        elif key == "proj":
            out["visual_projection.weight"] = value.T
        elif key.startswith("transformer.resblocks."):
            out.update(resblock_to_hf(key.removeprefix("transformer.resblocks."), value, "vision_model"))
    return out

