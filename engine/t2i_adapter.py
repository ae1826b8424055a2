"""T2I-Adapter: a small network that turns a hint image into features added inside the UNet's encoder.

Unlike a ControlNet it does not see the latent or the timestep, so it runs once per hint, not once per step. Its
four feature maps are added to the UNet's hidden state, and so to the skips taken there, as the original
implementation and ComfyUI place them:
- SD1.x adapters (hint unshuffled by 8): after the last res block of each of the four levels.
- SDXL adapters (unshuffled by 16, so 256 or 768 input channels): after the first downsampling, after the last res
  blocks of levels 1 and 2, and after the middle block.
Files in TencentARC's layout (``conv_in``, ``body.N.block1`` ...) load directly, diffusers' (``adapter.body.L.
resnets.R``) after renaming. The "light" variant is refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.comfy_control import ControlBase
from engine.sd.materialize import build_with_weights

BLOCKS_PER_LEVEL = 2  # the published full adapters all use two res blocks per level (ComfyUI assumes the same)
SD1_INPUTS = (64, 192)  # grey or RGB hints unshuffled by 8
XL_INPUTS = (256, 768)  # ... by 16


def is_t2i_adapter(sd: Mapping[str, torch.Tensor]) -> bool:
    """Full adapters (``conv_in`` + ``body``) and the "light" ones (``body.0.in_conv``), in either layout."""
    return any(key in sd for key in ("body.0.block1.weight", "adapter.conv_in.weight", "body.0.in_conv.weight",
                                     "adapter.body.0.in_conv.weight"))


def _conv(weight: torch.Tensor, **kwargs: int) -> nn.Conv2d:
    out_c, in_c, k, _ = weight.shape
    return nn.Conv2d(in_c, out_c, k, padding=k // 2, **kwargs)


class AdapterBlock(nn.Module):
    """Optional 2x down-sampling and channel change, then ``x + block2(relu(block1(x)))``."""

    def __init__(self, sd: Mapping[str, torch.Tensor], prefix: str, down: bool) -> None:
        super().__init__()
        self.down = down
        if down and prefix + "down_opt.op.weight" in sd:
            self.down_opt: nn.Module | None = nn.Conv2d(*sd[prefix + "down_opt.op.weight"].shape[:2], 3, stride=2,
                                                        padding=1)
        else:
            self.down_opt = None
        self.in_conv = _conv(sd[prefix + "in_conv.weight"]) if prefix + "in_conv.weight" in sd else None
        self.block1 = _conv(sd[prefix + "block1.weight"])
        self.block2 = _conv(sd[prefix + "block2.weight"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down and self.down_opt is not None:
            x = self.down_opt(x)
        elif self.down:  # as the original and ComfyUI: odd sizes pad by one on both sides, the padding averaged in
            x = F.avg_pool2d(x, 2, 2, padding=(x.shape[-2] % 2, x.shape[-1] % 2))
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(F.relu(self.block1(x)))


class T2IAdapter(nn.Module, ControlBase):
    per_step = False  # its output depends only on the hint

    def __init__(self, sd: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        blocks = len({int(m.group(1)) for key in sd if (m := re.match(r"body\.(\d+)\.block1\.", key))})
        self.levels = blocks // BLOCKS_PER_LEVEL
        self.xl = is_xl(sd)
        self.unshuffle = 16 if self.xl else 8
        self.hint_channels = int(sd["conv_in.weight"].shape[1]) // self.unshuffle**2
        self.conv_in = _conv(sd["conv_in.weight"])
        # SD1.x adapters halve the size at the start of levels 1-3; SDXL ones only at level 2 (ComfyUI's layout).
        downs = {2} if self.xl else {1, 2, 3}
        self.body = nn.ModuleList(
            AdapterBlock(sd, f"body.{i}.", down=i % BLOCKS_PER_LEVEL == 0 and i // BLOCKS_PER_LEVEL in downs)
            for i in range(blocks))

    def features(self, hint: torch.Tensor) -> list[torch.Tensor]:
        """One feature map per level for a hint [B, C, 8h, 8w] in 0..1 (RGB is averaged for 1-channel adapters)."""
        if self.hint_channels == 1 and hint.shape[1] > 1:
            hint = hint.mean(dim=1, keepdim=True)
        height, width = hint.shape[-2:]
        hint = F.pad(hint, (0, -width % self.unshuffle, 0, -height % self.unshuffle), mode="replicate")
        x = self.conv_in(F.pixel_unshuffle(hint, self.unshuffle))
        out = []
        for index, block in enumerate(self.body):
            x = block(x)
            if index % BLOCKS_PER_LEVEL == BLOCKS_PER_LEVEL - 1:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor, hint: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                y: torch.Tensor | None = None) -> dict[str, Any]:
        """Same call as a ControlNet's. The UNet adds ``"input"[level]`` after that level's last res block,
        ``"after_downsample"[level]`` after that level's downsampling, and ``"mid"`` after the middle block."""
        if self.xl != (y is not None):  # SDXL models pass their size vector y; SD1.x/SD2.x ones do not
            made_for, model = ("SDXL", "SD1.x/SD2.x") if self.xl else ("SD1.x", "SDXL")
            raise ValueError(f"this T2I-Adapter was made for {made_for} but the model is {model}: use one made for "
                             "the model's family")
        features = self.features(hint)
        if self.xl:
            return {"after_downsample": [features[0]], "input": [None, features[1], features[2]], "mid": features[3]}
        return {"input": features}

    def copy(self) -> Any:
        """ComfyUI's ``copy()``: a hint of this adapter (``engine.comfy_control``)."""
        from engine.controlnet import ControlNetHint  # engine.controlnet imports this module

        return ControlNetHint(self)


def diffusers_adapter_to_original(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``adapter.body.L.resnets.R.*`` -> ``body.{L*2+R}.*``, ``adapter.body.L.in_conv`` -> ``body.{L*2}.in_conv``."""
    out = {}
    for key, value in sd.items():
        name = key.removeprefix("adapter.")
        if m := re.match(r"body\.(\d+)\.resnets\.(\d+)\.(.*)", name):
            name = f"body.{int(m.group(1)) * BLOCKS_PER_LEVEL + int(m.group(2))}.{m.group(3)}"
        elif m := re.match(r"body\.(\d+)\.(in_conv\..*)", name):
            name = f"body.{int(m.group(1)) * BLOCKS_PER_LEVEL}.{m.group(2)}"
        out[name] = value
    return out


def t2i_adapter_from_state_dict(sd: Mapping[str, torch.Tensor]) -> T2IAdapter:
    if "conv_in.weight" not in sd and "adapter.conv_in.weight" not in sd:
        raise ValueError("a T2I-Adapter 'light' file (body.0.in_conv, no conv_in), which is not supported")
    if "adapter.conv_in.weight" in sd:
        sd = diffusers_adapter_to_original(sd)
    if int(sd["conv_in.weight"].shape[1]) not in XL_INPUTS + SD1_INPUTS:
        raise ValueError(f"a T2I-Adapter with {sd['conv_in.weight'].shape[1]} input channels, which is not "
                         f"supported: SD1.x adapters take {SD1_INPUTS}, SDXL adapters {XL_INPUTS} (grey, RGB)")
    return build_with_weights(lambda: T2IAdapter(sd), sd)


def is_xl(sd: Mapping[str, torch.Tensor]) -> bool:
    return int(sd["conv_in.weight"].shape[1]) in XL_INPUTS
