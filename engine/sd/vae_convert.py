"""Rename a diffusers-layout VAE state dict (``encoder.down_blocks...``) to the LDM layout our model uses."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

_ATTN_NAMES = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
    "query": "q",  # older diffusers names
    "key": "k",
    "value": "v",
    "proj_attn": "proj_out",
}

_RULES: list[tuple[str, str]] = [
    (r"^(encoder|decoder)\.conv_norm_out\.", r"\1.norm_out."),
    (r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2."),
    (r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.0\.", r"\1.mid.block_1."),
    (r"^(encoder|decoder)\.mid_block\.resnets\.1\.", r"\1.mid.block_2."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.", r"\1.mid.attn_1."),
    (r"\.conv_shortcut\.", ".nin_shortcut."),
]


def is_diffusers_vae(sd: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in sd)


def _rename(key: str, up_levels: int) -> str:
    match = re.match(r"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)$", key)
    if match:
        # diffusers counts decoder levels from the deepest; LDM by resolution.
        level = up_levels - 1 - int(match.group(1))
        if match.group(2) == "upsamplers":
            return f"decoder.up.{level}.upsample.{match.group(4)}"
        key = f"decoder.up.{level}.block.{match.group(3)}.{match.group(4)}"
    for pattern, replacement in _RULES:
        key = re.sub(pattern, replacement, key)
    if ".mid.attn_1." in key:
        head, tail = key.split(".mid.attn_1.")
        name, param = tail.rsplit(".", 1)
        key = f"{head}.mid.attn_1.{_ATTN_NAMES.get(name, name)}.{param}"
    return key


def diffusers_vae_to_ldm(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LDM-layout copy of a diffusers VAE state dict (tensors are shared, not copied)."""
    up_levels = len({k.split(".")[2] for k in sd if k.startswith("decoder.up_blocks.")})
    out: dict[str, torch.Tensor] = {}
    for key, tensor in sd.items():
        new_key = _rename(key, up_levels)
        if ".mid.attn_1." in new_key and new_key.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # diffusers stores the 1x1 attention convs as linear layers
        out[new_key] = tensor
    return out
