"""The Stable Diffusion UNet in the original LDM layout: ``state_dict()`` keys equal the checkpoint keys
after ``model.diffusion_model.``."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.sd.attention import SpatialTransformer
from engine.sd.unet_config import UNetConfig, detect_unet_config

__all__ = ["UNetConfig", "UNetModel", "detect_unet_config", "timestep_embedding"]

# ControlNet residuals: {"down": [tensor or None per skip connection], "mid": tensor or None}. Each is added
# to the skip it belongs to (as diffusers does), "mid" to the middle block's output. T2I-Adapter features:
# {"input": [tensor or None per level]} are added to the hidden state after each level's last res block, and
# {"after_downsample": [...per level]} after that level's downsampling (skips included).
Control = dict[str, Any]


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos | sin]`` of (possibly fractional) timesteps, in float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = timesteps.float()[:, None] * freqs.to(timesteps.device)[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _fitted(feature: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """An adapter feature cut to ``h``'s size (hints are padded up to the adapter's grid)."""
    return feature[..., : h.shape[-2], : h.shape[-1]].to(h)


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(32, out_channels),
            nn.SiLU(),
            nn.Dropout(0.0),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        # ``size`` (the matching skip's size) makes odd latent sizes round-trip through the down path.
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


class TimestepBlock(nn.Sequential):
    """A block of ResBlock / SpatialTransformer / Up- or Downsample layers fed with what each needs.

    ``transformer_options`` reaches the transformers (their attention patch points); each transformer run counts
    one more in its ``transformer_index``, as ComfyUI's ``forward_timestep_embed`` does."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, size: tuple[int, int] | None = None,
        transformer_options: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context, transformer_options)
                if transformer_options is not None and "transformer_index" in transformer_options:
                    transformer_options["transformer_index"] += 1
            elif isinstance(layer, Upsample):
                x = layer(x, size)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        mc = c.model_channels
        emb_ch = mc * 4
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        if c.adm_in_channels is not None:
            self.label_emb = nn.Sequential(
                nn.Sequential(nn.Linear(c.adm_in_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
            )

        self.input_blocks = nn.ModuleList([TimestepBlock(nn.Conv2d(c.in_channels, mc, 3, padding=1))])
        self.level_ends: list[int] = []  # index of each level's last res block among the input blocks
        self.level_downsamples: list[int] = []  # index of each level's downsampling block
        skip_channels = [mc]
        ch = mc
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_ch, mult * mc)]
                ch = mult * mc
                layers += self._attention(ch, c.transformer_depth[level])
                self.input_blocks.append(TimestepBlock(*layers))
                skip_channels.append(ch)
            self.level_ends.append(len(self.input_blocks) - 1)
            if level != len(c.channel_mult) - 1:
                self.input_blocks.append(TimestepBlock(Downsample(ch)))
                self.level_downsamples.append(len(self.input_blocks) - 1)
                skip_channels.append(ch)

        self.middle_block = TimestepBlock(
            ResBlock(ch, emb_ch, ch),
            *self._attention(ch, c.transformer_depth_middle),
            ResBlock(ch, emb_ch, ch),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            for i in range(c.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb_ch, mult * mc)]
                ch = mult * mc
                layers += self._attention(ch, c.transformer_depth[level])
                if level and i == c.num_res_blocks:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepBlock(*layers))

        self.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(), nn.Conv2d(mc, c.out_channels, 3, padding=1))

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype (ComfyUI's UNet has this attribute, and plug-ins read it)."""
        return next(self.parameters()).dtype

    def _attention(self, channels: int, depth: int) -> list[nn.Module]:
        if depth == 0:
            return []
        c = self.config
        heads, dim_head = c.heads_at(channels)
        return [SpatialTransformer(channels, heads, dim_head, depth, c.context_dim, c.use_linear_in_transformer)]

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        y: torch.Tensor | None = None,
        control: Control | None = None,
        transformer_options: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """Predict the noise (or v) of ``x`` [B, C, h, w] at ``timesteps`` [B] given ``context`` [B, T, D].

        ``transformer_options["patches"]`` (ComfyUI's hook points, ``engine.sd.model_options.UNET_PATCHES``):
        ``emb_patch`` ``p(emb, model_channels, options)``, ``input_block_patch`` and
        ``input_block_patch_after_skip`` ``p(h, options)``, ``output_block_patch`` ``p(h, skip, options) -> (h,
        skip)``; ``options["block"]`` says where, as ComfyUI's ("input", i), ("middle", 0), ("output", i). The
        transformer blocks call the attention patches (``engine.sd.attention``)."""
        options = transformer_options if transformer_options is not None else {}
        hooks = options.get("patches", {})
        options["original_shape"] = list(x.shape)
        options["transformer_index"] = 0
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(x.dtype))
        for patch in hooks.get("emb_patch", []):
            emb = patch(emb, self.config.model_channels, options)
        if y is not None:
            emb = emb + self.label_emb(y.to(x.dtype))
        down = list((control or {}).get("down") or [])
        mid = (control or {}).get("mid")
        features = dict(zip(self.level_ends, (control or {}).get("input") or [], strict=False))
        features.update(zip(self.level_downsamples, (control or {}).get("after_downsample") or [], strict=False))

        skips = []
        h = x
        for i, block in enumerate(self.input_blocks):
            options["block"] = ("input", i)
            h = block(h, emb, context, transformer_options=options)
            if features.get(i) is not None:
                h = h + _fitted(features[i], h)
            for patch in hooks.get("input_block_patch", []):
                h = patch(h, options)
            residual = down[i] if i < len(down) else None
            skips.append(h if residual is None else h + residual.to(h))
            for patch in hooks.get("input_block_patch_after_skip", []):
                h = patch(h, options)
        options["block"] = ("middle", 0)
        h = self.middle_block(h, emb, context, transformer_options=options)
        if mid is not None:
            h = h + mid.to(h)
        for i, block in enumerate(self.output_blocks):
            options["block"] = ("output", i)
            skip = skips.pop()
            for patch in hooks.get("output_block_patch", []):
                h, skip = patch(h, skip, options)
            h = torch.cat([h, skip], dim=1)
            size = tuple(skips[-1].shape[-2:]) if skips else None
            h = block(h, emb, context, size, options)
        return self.out(h)
