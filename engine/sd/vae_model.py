"""The KL autoencoder of Stable Diffusion in the LDM layout (`encoder.down.0.block.0...`, `quant_conv`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class VAEConfig:
    in_channels: int = 3
    out_channels: int = 3
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    embed_dim: int = 4


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


def _norm_silu(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """SiLU of GroupNorm, in place on the norm's fresh output: one activation-sized allocation fewer (gradients
    stay right, see test_decode_gradients_match_diffusers)."""
    return F.silu(norm(x), inplace=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_norm_silu(self.norm1, x))
        h = self.conv2(_norm_silu(self.norm2, h))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return h.add_(shortcut)  # a convolution's output is not kept for its backward pass


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with 1x1-conv projections."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projections run as matmuls over [B, 1, HW, C] pixel rows: a free view of channels-last input,
        with C contiguous as torch's fused attention kernel needs (otherwise it builds the HWxHW scores)."""
        b, c, h, w = x.shape
        rows = self.norm(x).permute(0, 2, 3, 1).reshape(b, 1, h * w, c)
        q, k, v = (_pointwise(conv, rows) for conv in (self.q, self.k, self.v))
        out = _pointwise(self.proj_out, F.scaled_dot_product_attention(q, k, v))
        return x + out.view(b, h, w, c).permute(0, 3, 1, 2)


def _pointwise(conv: nn.Conv2d, rows: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied to channels-last rows [..., C_in] -> [..., C_out]."""
    return F.linear(rows, conv.weight.reshape(conv.out_channels, conv.in_channels), conv.bias)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # LDM pads right/bottom only


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    """One resolution of the encoder or decoder: res blocks, then an optional resampler."""

    def __init__(self, blocks: list[ResnetBlock], resample: nn.Module | None, name: str) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList()  # SD's VAE has no attention inside levels; kept for the key layout
        self.resample_name = name
        if resample is not None:
            self.add_module(name, resample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        resample = getattr(self, self.resample_name, None)
        return resample(x) if resample is not None else x


class Encoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, padding=1)
        ch_in = c.ch
        self.down = nn.ModuleList()
        for i, mult in enumerate(c.ch_mult):
            ch_out = c.ch * mult
            blocks = [ResnetBlock(ch_in if j == 0 else ch_out, ch_out) for j in range(c.num_res_blocks)]
            last = i == len(c.ch_mult) - 1
            self.down.append(Level(blocks, None if last else Downsample(ch_out), "downsample"))
            ch_in = ch_out
        self.mid = MidBlock(ch_in)
        self.norm_out = _norm(ch_in)
        self.conv_out = nn.Conv2d(ch_in, 2 * c.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(_norm_silu(self.norm_out, h))


class Decoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        ch_in = c.ch * c.ch_mult[-1]
        self.conv_in = nn.Conv2d(c.z_channels, ch_in, 3, padding=1)
        self.mid = MidBlock(ch_in)
        levels: list[Level] = []
        for i in reversed(range(len(c.ch_mult))):
            ch_out = c.ch * c.ch_mult[i]
            blocks = [ResnetBlock(ch_in if j == 0 else ch_out, ch_out) for j in range(c.num_res_blocks + 1)]
            levels.insert(0, Level(blocks, Upsample(ch_out) if i else None, "upsample"))
            ch_in = ch_out
        self.up = nn.ModuleList(levels)  # indexed by resolution level, run from the deepest
        self.norm_out = _norm(ch_in)
        self.conv_out = nn.Conv2d(ch_in, c.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(_norm_silu(self.norm_out, h))


class AutoencoderKL(nn.Module):
    """Pixels in -1..1 <-> latents (the posterior mean; no sampling, as inference in ComfyUI)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * config.z_channels, 2 * config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        mean, _logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))


def detect_vae_config(sd: Mapping[str, torch.Tensor]) -> VAEConfig:
    """Read a VAE's config from its LDM-layout state dict. Raises KeyError when it is not one."""
    conv_in = sd["encoder.conv_in.weight"]
    ch = int(conv_in.shape[0])
    levels = sorted({int(k.split(".")[2]) for k in sd if k.startswith("decoder.up.")})
    ch_mult = tuple(int(sd[f"decoder.up.{i}.block.0.conv2.weight"].shape[0]) // ch for i in levels)
    res_blocks = {int(k.split(".")[4]) for k in sd if k.startswith("encoder.down.0.block.")}
    return VAEConfig(
        in_channels=int(conv_in.shape[1]),
        out_channels=int(sd["decoder.conv_out.weight"].shape[0]),
        ch=ch,
        ch_mult=ch_mult,
        num_res_blocks=len(res_blocks),
        z_channels=int(sd["decoder.conv_in.weight"].shape[1]),
        embed_dim=int(sd["post_quant_conv.weight"].shape[0]),
    )
