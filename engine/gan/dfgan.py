"""DF-GAN (text-to-image) in plain torch, with tobran/DF-GAN's parameter names.

The file holds the generator ``NetG`` under ``netG.*`` and AttnGAN's DAMSM text encoder ``RNN_ENCODER``
(``engine.gan.damsm``) under ``text_encoder.*``. The caption's sentence embedding (the LSTM's
final hidden states) joins the noise as the condition of every block's deep fusion (DFBLK): per-channel
affine transforms predicted from the condition. The vocabulary (``wordtoix``) is a dataset file, so it comes
from the metadata or the JSON beside the weights. CUB and COCO models differ only in sizes, read from shapes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from engine.gan.damsm import TextEncoder, detect_text_encoder, tokenize

__all__ = ["DFGANGenerator", "NetG", "TextEncoder", "build_dfgan", "detect_dfgan"]


def condition_mlp(cond_dim: int, features: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("linear1", nn.Linear(cond_dim, features)), ("relu1", nn.ReLU()),
                                      ("linear2", nn.Linear(features, features))]))


class Affine(nn.Module):
    """x * gamma(cond) + beta(cond), per channel."""

    def __init__(self, cond_dim: int, features: int) -> None:
        super().__init__()
        self.fc_gamma = condition_mlp(cond_dim, features)
        self.fc_beta = condition_mlp(cond_dim, features)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.fc_gamma(cond)[:, :, None, None] * x + self.fc_beta(cond)[:, :, None, None]


class DeepFusion(nn.Module):
    """DF-GAN's DFBLK: two conditional affines, each followed by LeakyReLU(0.2)."""

    def __init__(self, cond_dim: int, features: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, features)
        self.affine1 = Affine(cond_dim, features)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.affine0(x, cond), 0.2)
        return F.leaky_relu(self.affine1(x, cond), 0.2)


class GBlock(nn.Module):
    """Nearest x2 upsample, then shortcut (1x1 conv when the width changes) + fuse/conv/fuse/conv residual."""

    def __init__(self, cond_dim: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.c2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.fuse1 = DeepFusion(cond_dim, in_channels)
        self.fuse2 = DeepFusion(cond_dim, out_channels)
        self.c_sc = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2)
        residual = self.c2(self.fuse2(self.c1(self.fuse1(x, cond)), cond))
        return (self.c_sc(x) if self.c_sc is not None else x) + residual


class NetG(nn.Module):
    """(noise [B, nz], sentence [B, cond_dim]) -> images [B, C, 4 * 2**blocks, ...] in -1..1."""

    def __init__(self, nz: int, cond_dim: int, channels: list[int], image_channels: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(nz, channels[0] * 4 * 4)
        pairs = zip(channels[:-1], channels[1:], strict=True)
        self.GBlocks = nn.ModuleList(GBlock(nz + cond_dim, a, b) for a, b in pairs)
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(channels[-1], image_channels, 3, 1, 1), nn.Tanh())
        self.first_channels = channels[0]

    def forward(self, noise: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        x = self.fc(noise).reshape(len(noise), self.first_channels, 4, 4)
        cond = torch.cat([noise, sentence], dim=1)
        for block in self.GBlocks:
            x = block(x, cond)
        return self.to_rgb(x)


class DFGANGenerator(nn.Module):
    """NetG plus its text encoder and vocabulary: caption -> sentence embedding -> image."""

    needs_text = True

    def __init__(self, netG: NetG, text_encoder: TextEncoder, wordtoix: Mapping[str, int]) -> None:
        super().__init__()
        self.netG = netG
        self.text_encoder = text_encoder
        self.wordtoix = dict(wordtoix)
        self.z_dim = netG.fc.in_features
        self.resolution = 4 * 2 ** len(netG.GBlocks)

    def tokenize(self, text: str) -> list[int]:
        return tokenize(text, self.wordtoix)

    def sentence_embedding(self, text: str) -> torch.Tensor:
        return self.text_encoder(torch.tensor([self.tokenize(text)]))

    def forward(self, z: torch.Tensor, text: str) -> torch.Tensor:
        return self.netG(z, self.sentence_embedding(text).expand(len(z), -1))


def detect_dfgan(sd: Mapping[str, torch.Tensor]) -> dict[str, object]:
    """NetG and text encoder sizes from the tensors; KeyError when the file is not a DF-GAN."""
    blocks = sorted({int(m.group(1)) for key in sd if (m := re.match(r"netG\.GBlocks\.(\d+)\.c1\.weight$", key))})
    if "netG.fc.weight" not in sd or not blocks or "text_encoder.encoder.weight" not in sd:
        raise KeyError("no netG.fc / netG.GBlocks / text_encoder tensors")
    nz = int(sd["netG.fc.weight"].shape[1])
    channels = [int(sd["netG.GBlocks.0.c1.weight"].shape[1])]
    channels += [int(sd[f"netG.GBlocks.{i}.c1.weight"].shape[0]) for i in blocks]
    return {
        "netG": {"nz": nz, "channels": channels, "image_channels": int(sd["netG.to_rgb.1.weight"].shape[0]),
                 "cond_dim": int(sd["netG.GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight"].shape[1]) - nz},
        "text_encoder": detect_text_encoder(sd, "text_encoder."),
    }


def build_dfgan(sd: Mapping[str, torch.Tensor], wordtoix: Mapping[str, int]) -> DFGANGenerator:
    sizes = detect_dfgan(sd)
    return DFGANGenerator(NetG(**sizes["netG"]), TextEncoder(**sizes["text_encoder"]), wordtoix)  # type: ignore[arg-type]
