"""VQGAN (taming-transformers' ``VQModel``): encode, quantise to the nearest codebook entry, decode.

Encoder and decoder are taming's ``diffusionmodules.model`` networks (the same blocks as Stable Diffusion's VAE,
plus self-attention after the res blocks of the levels in ``attn_resolutions``: 16 for the published ImageNet
f16 models), with taming's key names: ``encoder.*``, ``decoder.*``, ``quant_conv``, ``post_quant_conv``,
``quantize.embedding.weight``. Sizes come from the tensors (``detect_vqgan``); the published f16-1024 and
f16-16384 ImageNet models are ``ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=(16,),
z_channels=embed_dim=256`` at resolution 256 with 1024 or 16384 codes.

Quantisation (``VectorQuantizer2``) picks the codebook entry nearest in squared distance; its ``beta`` only weighs
the training loss, where ``legacy=True`` (taming's default, and how the published models were trained) puts beta
on the codebook term instead of the commitment term (``quantization_loss``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.sd.vae_model import AttnBlock, Downsample, MidBlock, ResnetBlock, Upsample, _norm, _norm_silu


@dataclass(frozen=True)
class VQGANConfig:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_levels: tuple[int, ...] = (4,)  # levels with attention; level i works at resolution / 2**i
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 256
    n_embed: int = 1024
    embed_dim: int = 256

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    def attn_resolutions(self, resolution: int = 256) -> tuple[int, ...]:
        """taming's ``attn_resolutions`` for a training resolution (the levels are what the weights fix)."""
        return tuple(resolution // 2**level for level in self.attn_levels)


# taming-transformers' configs/imagenet_vqgan.yaml (n_embed 1024; the f16-16384 model differs only in n_embed).
IMAGENET_F16_1024 = VQGANConfig()
IMAGENET_F16_16384 = VQGANConfig(n_embed=16384)


class Level(nn.Module):
    """One resolution: res blocks, each followed by attention on attention levels, then an optional resampler."""

    def __init__(self, blocks: list[ResnetBlock], attention: bool, resample: nn.Module | None, name: str) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(AttnBlock(b.conv2.out_channels) for b in blocks) if attention else nn.ModuleList()
        self.resample_name = name
        if resample is not None:
            self.add_module(name, resample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self.block):
            x = block(x)
            if self.attn:
                x = self.attn[index](x)
        resample = getattr(self, self.resample_name, None)
        return resample(x) if resample is not None else x


class Encoder(nn.Module):
    def __init__(self, c: VQGANConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, padding=1)
        ch_in = c.ch
        self.down = nn.ModuleList()
        for level, mult in enumerate(c.ch_mult):
            ch_out = c.ch * mult
            blocks = [ResnetBlock(ch_in if j == 0 else ch_out, ch_out) for j in range(c.num_res_blocks)]
            last = level == len(c.ch_mult) - 1
            self.down.append(Level(blocks, level in c.attn_levels, None if last else Downsample(ch_out),
                                   "downsample"))
            ch_in = ch_out
        self.mid = MidBlock(ch_in)
        self.norm_out = _norm(ch_in)
        self.conv_out = nn.Conv2d(ch_in, c.z_channels, 3, padding=1)  # taming's VQGANs have double_z False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        return self.conv_out(_norm_silu(self.norm_out, self.mid(h)))


class Decoder(nn.Module):
    def __init__(self, c: VQGANConfig) -> None:
        super().__init__()
        ch_in = c.ch * c.ch_mult[-1]
        self.conv_in = nn.Conv2d(c.z_channels, ch_in, 3, padding=1)
        self.mid = MidBlock(ch_in)
        levels: list[Level] = []
        for level in reversed(range(len(c.ch_mult))):
            ch_out = c.ch * c.ch_mult[level]
            blocks = [ResnetBlock(ch_in if j == 0 else ch_out, ch_out) for j in range(c.num_res_blocks + 1)]
            levels.insert(0, Level(blocks, level in c.attn_levels, Upsample(ch_out) if level else None, "upsample"))
            ch_in = ch_out
        self.up = nn.ModuleList(levels)  # indexed by level, run from the deepest
        self.norm_out = _norm(ch_in)
        self.conv_out = nn.Conv2d(ch_in, c.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(_norm_silu(self.norm_out, h))


class VectorQuantizer(nn.Module):
    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Indices [B, H, W] of the nearest codebook entries to z [B, C, H, W] (squared distance, as taming)."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codebook = self.embedding.weight
        distances = (flat.square().sum(1, keepdim=True) + codebook.square().sum(1)
                     - 2 * flat @ codebook.T)
        return distances.argmin(dim=1).reshape(z.shape[0], *z.shape[2:])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [B, C, H, W] of indices [B, H, W]."""
        return self.embedding(codes).permute(0, 3, 1, 2).contiguous()


def quantization_loss(z: torch.Tensor, z_q: torch.Tensor, beta: float = 0.25, legacy: bool = True) -> torch.Tensor:
    """VectorQuantizer2's training loss: legacy (taming's default) weighs the codebook term by beta."""
    commitment = torch.mean((z_q.detach() - z) ** 2)
    codebook = torch.mean((z_q - z.detach()) ** 2)
    return commitment + beta * codebook if legacy else beta * commitment + codebook


class VQGAN(nn.Module):
    def __init__(self, config: VQGANConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-quantisation latent [B, embed_dim, H/f, W/f] of images in -1..1."""
        return self.quant_conv(self.encoder(x))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantised latent, codes [B, H/f, W/f]) of images [B, 3, H, W] in -1..1 (taming's ``encode``)."""
        codes = self.quantize.codes(self.encode_latent(x))
        return self.quantize.lookup(codes), codes

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(quant))

    def decode_code(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize.lookup(codes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])


MODEL_PREFIXES = ("encoder.", "decoder.", "quantize.", "quant_conv.", "post_quant_conv.")


def model_tensors(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The autoencoder's tensors of a VQModel state dict (without ``loss.*``: LPIPS and the discriminator)."""
    return {key: value for key, value in sd.items() if key.startswith(MODEL_PREFIXES)}


def detect_vqgan(sd: Mapping[str, torch.Tensor]) -> VQGANConfig:
    if "quantize.embedding.weight" not in sd or "encoder.conv_in.weight" not in sd:
        if "quantize.proj.weight" in sd:
            raise KeyError("a Gumbel-quantised VQGAN (quantize.proj): only VectorQuantizer models are supported")
        raise KeyError("no encoder.conv_in / quantize.embedding tensors")
    ch = int(sd["encoder.conv_in.weight"].shape[0])
    levels = sorted({int(m.group(1)) for key in sd if (m := re.match(r"encoder\.down\.(\d+)\.block\.", key))})
    mults = tuple(int(sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0]) // ch for i in levels)
    blocks = len({key.split(".")[4] for key in sd if key.startswith("encoder.down.0.block.")})
    attention = tuple(i for i in levels if f"encoder.down.{i}.attn.0.q.weight" in sd)
    n_embed, embed_dim = sd["quantize.embedding.weight"].shape
    return VQGANConfig(ch=ch, ch_mult=mults, num_res_blocks=blocks, attn_levels=attention,
                       in_channels=int(sd["encoder.conv_in.weight"].shape[1]),
                       out_ch=int(sd["decoder.conv_out.weight"].shape[0]),
                       z_channels=int(sd["encoder.conv_out.weight"].shape[0]), n_embed=int(n_embed),
                       embed_dim=int(embed_dim))


def vqgan_from_state_dict(sd: Mapping[str, torch.Tensor]) -> VQGAN:
    tensors = model_tensors(sd)
    model = VQGAN(detect_vqgan(tensors))
    model.load_state_dict(tensors, strict=True)
    return model.eval().requires_grad_(False)


def to_model_input(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """IMAGE [B, H, W, C] in 0..1 -> [B, 3, H', W'] in -1..1, padded (edge pixels repeated) to the model's multiple."""
    x = images[..., :3].movedim(-1, 1).float() * 2 - 1
    height, width = x.shape[2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (height, width)


def to_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B, 3, H', W'] in -1..1 -> IMAGE [B, H, W, 3] in 0..1, cropped to ``size``."""
    return ((x[:, :, :size[0], :size[1]].float().clamp(-1, 1) + 1) / 2).movedim(1, -1).cpu().contiguous()
