"""ControlNet files in diffusers' layout (``controlnet_cond_embedding``, ``down_blocks``, ``controlnet_down_blocks``),
renamed to the original layout that ``engine.controlnet`` builds. The encoder's block structure (levels, res
blocks per level, attention depths) is read from the names; everything else from the renamed tensors."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from engine.sd.unet_names import diffusers_structure, diffusers_to_ldm


def is_diffusers_controlnet(sd: Mapping[str, torch.Tensor]) -> bool:
    return "controlnet_cond_embedding.conv_in.weight" in sd


def _hint_and_zero_convs(key: str, hint_blocks: int) -> str | None:
    """The original name of a hint-encoder or zero-convolution tensor."""
    if key.startswith("controlnet_cond_embedding.conv_in."):
        return "input_hint_block.0." + key.rsplit(".", 1)[1]
    if m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(\w+)$", key):
        return f"input_hint_block.{2 * (int(m.group(1)) + 1)}.{m.group(2)}"
    if key.startswith("controlnet_cond_embedding.conv_out."):
        return f"input_hint_block.{2 * (hint_blocks + 1)}." + key.rsplit(".", 1)[1]
    if m := re.match(r"controlnet_down_blocks\.(\d+)\.(\w+)$", key):
        return f"zero_convs.{m.group(1)}.0.{m.group(2)}"
    if key.startswith("controlnet_mid_block."):
        return "middle_block_out.0." + key.rsplit(".", 1)[1]
    return None


def diffusers_controlnet_to_ldm(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors under their original names; raises ``KeyError`` naming tensors it cannot place."""
    keys = list(sd)
    names = diffusers_to_ldm(diffusers_structure(keys), keys)
    hint_blocks = len({key.split(".")[2] for key in keys if key.startswith("controlnet_cond_embedding.blocks.")})
    out, unknown = {}, []
    for key, value in sd.items():
        name = names.get(key) or _hint_and_zero_convs(key, hint_blocks)
        if name is None:
            unknown.append(key)
        else:
            out[name] = value
    if unknown:
        raise KeyError(f"unexpected tensors in a diffusers ControlNet: {', '.join(unknown[:5])}")
    return out
