"""The sizes of an LDM UNet, and how to read them from a state dict's tensor names and shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    transformer_depth: tuple[int, ...] = (1, 1, 1, 0)  # per level; 0 = no attention at that level
    transformer_depth_middle: int = 1  # 0 = middle block without attention
    context_dim: int = 768
    num_heads: int = 8  # used when num_head_channels == -1 (SD1)
    num_head_channels: int = -1  # fixed head width (SD2/SDXL: 64)
    use_linear_in_transformer: bool = False
    adm_in_channels: int | None = None

    def heads_at(self, channels: int) -> tuple[int, int]:
        """(heads, head width) of the attention blocks working on ``channels`` channels."""
        if self.num_head_channels == -1:
            return self.num_heads, channels // self.num_heads
        return max(1, channels // self.num_head_channels), self.num_head_channels


def _count_blocks(keys: set[str], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in keys if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def detect_unet_config(sd: Mapping[str, torch.Tensor]) -> UNetConfig:
    """Read a UNet's config from its state dict (keys without ``model.diffusion_model.``).

    Raises KeyError when the dict is not an LDM UNet.
    """
    keys = set(sd)
    conv_in = sd["input_blocks.0.0.weight"]
    model_channels, in_channels = int(conv_in.shape[0]), int(conv_in.shape[1])
    channel_mult: list[int] = []
    depths: list[int] = []
    res_per_level: list[int] = []
    count = 0
    for i in range(1, _count_blocks(keys, "input_blocks.")):
        if f"input_blocks.{i}.0.op.weight" in keys:  # downsample closes a level
            res_per_level.append(count)
            count = 0
            continue
        if count == 0:
            out_ch = sd[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0]
            channel_mult.append(int(out_ch) // model_channels)
            depths.append(_count_blocks(keys, f"input_blocks.{i}.1.transformer_blocks."))
        count += 1
    res_per_level.append(count)
    if len(set(res_per_level)) != 1:
        raise ValueError(f"UNet with different res-block counts per level is not supported: {res_per_level}")

    context_dim = None
    linear = False
    attn_keys = sorted(k for k in keys if k.endswith("transformer_blocks.0.attn2.to_k.weight"))
    if attn_keys:
        context_dim = int(sd[attn_keys[0]].shape[1])
        proj_in = attn_keys[0].split("transformer_blocks.")[0] + "proj_in.weight"
        linear = sd[proj_in].ndim == 2
    adm = sd.get("label_emb.0.0.weight")
    # Head counts are not visible in shapes. SD1 (1x1-conv projections) uses 8 heads; SD2 and SDXL (linear
    # projections) use 64-wide heads; ComfyUI tells them apart by the same features.
    return UNetConfig(
        in_channels=in_channels,
        out_channels=int(sd["out.2.weight"].shape[0]),
        model_channels=model_channels,
        num_res_blocks=res_per_level[0],
        channel_mult=tuple(channel_mult),
        transformer_depth=tuple(depths),
        transformer_depth_middle=_count_blocks(keys, "middle_block.1.transformer_blocks."),
        context_dim=context_dim or 768,
        num_heads=8,
        num_head_channels=64 if linear else -1,
        use_linear_in_transformer=linear,
        adm_in_channels=int(adm.shape[1]) if adm is not None else None,
    )
