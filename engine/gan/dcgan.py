"""DCGAN generators in pytorch/examples' layout (``main.N.*``), sizes read from the tensors."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn


def detect_dcgan(sd: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """nz, channel widths and output channels from the ConvTranspose2d weights ([in, out, 4, 4])."""
    convs = sorted(int(m.group(1)) for key in sd if (m := re.fullmatch(r"main\.(\d+)\.weight", key))
                   and sd[key].ndim == 4)
    if not convs:
        raise KeyError("no main.N ConvTranspose2d weights")
    widths = [int(sd[f"main.{i}.weight"].shape[1]) for i in convs]
    return {"nz": int(sd[f"main.{convs[0]}.weight"].shape[0]), "widths": widths}


class DCGANGenerator(nn.Module):
    """z [B, nz, 1, 1] -> images [B, C, 4 * 2**(layers-1), ...] in -1..1 (ConvT 4x4, BN, ReLU; Tanh last)."""

    def __init__(self, nz: int, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = nz
        for index, width in enumerate(widths):
            first, last = index == 0, index == len(widths) - 1
            layers.append(nn.ConvTranspose2d(channels, width, 4, 1 if first else 2, 0 if first else 1, bias=False))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(width), nn.ReLU(True)]
            channels = width
        self.main = nn.Sequential(*layers)
        self.nz = self.z_dim = nz
        self.resolution = 4 * 2 ** (len(widths) - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(len(z), self.nz, 1, 1))
