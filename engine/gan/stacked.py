"""The pieces StackGAN++ and AttnGAN share: both generators are a ``G_NET`` tree of stages, 64² then doubling.

Names follow hanzhanggit/StackGAN-v2 and taoxugit/AttnGAN ``code/model.py``, so the state dicts load as saved:
``ca_net.fc`` (conditioning augmentation), ``h_net1.fc.0/1`` and ``h_net1.upsample1..4`` (the first stage),
``h_netK.residual.N.block.0/1/3/4`` and ``h_netK.upsample.1/2`` (the later stages), ``img_netK.img.0`` (each
stage's 3x3 conv to RGB). Every conv is bias-free and followed by BatchNorm and a GLU, which halves the channels.

Latents: each generator's ``z_dim`` counts the noise and then, for text-conditioned ones, the conditioning
augmentation's epsilon, so seeds fix both and truncation scales both (truncation 0: the mean condition ``mu``
and zero noise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from engine.gan.generator import GANGenerator, to_image


class GLU(nn.Module):
    """First half of the channels gated by the sigmoid of the second half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[1] // 2
        return x[:, :half] * torch.sigmoid(x[:, half:])


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)


def conv_glu(in_channels: int, out_channels: int) -> nn.Sequential:
    """The references' Block3x3_relu: conv to twice the channels, BatchNorm, GLU."""
    return nn.Sequential(conv3x3(in_channels, out_channels * 2), nn.BatchNorm2d(out_channels * 2), GLU())


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """upBlock: nearest x2, then conv_glu (keys ``1`` conv, ``2`` norm)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *conv_glu(in_channels, out_channels))


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(conv3x3(channels, channels * 2), nn.BatchNorm2d(channels * 2), GLU(),
                                   conv3x3(channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ConditioningAugmentation(nn.Module):
    """CA_NET: text embedding -> (mu, logvar) -> c = mu + eps * exp(logvar / 2), eps given by the caller."""

    def __init__(self, text_dim: int, c_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(text_dim, c_dim * 4)
        self.c_dim = c_dim

    def forward(self, embedding: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.fc(embedding), dim=1)  # GLU over [a, b]: a * sigmoid(b)
        mu, logvar = x[:, :self.c_dim], x[:, self.c_dim:]
        return mu + eps * torch.exp(0.5 * logvar)


class InitStage(nn.Module):
    """INIT_STAGE_G: [c, z] -> fc to channels x 4 x 4 -> four up-blocks -> channels/16 x 64 x 64."""

    def __init__(self, channels: int, in_dim: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_dim, channels * 4 * 4 * 2, bias=False),
                                nn.BatchNorm1d(channels * 4 * 4 * 2), GLU())
        self.upsample1 = up_block(channels, channels // 2)
        self.upsample2 = up_block(channels // 2, channels // 4)
        self.upsample3 = up_block(channels // 4, channels // 8)
        self.upsample4 = up_block(channels // 8, channels // 16)
        self.channels = channels

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.fc(z if c is None else torch.cat([c, z], dim=1)).view(-1, self.channels, 4, 4)
        return self.upsample4(self.upsample3(self.upsample2(self.upsample1(x))))


class ImageHead(nn.Module):
    """GET_IMAGE_G: 3x3 conv to RGB, tanh."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.img = nn.Sequential(conv3x3(channels, 3), nn.Tanh())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.img(h)


def stage_numbers(sd: Mapping[str, torch.Tensor], prefix: str = "netG.") -> list[int]:
    """1, 2, ... for each ``h_netK`` stage present."""
    count = 0
    while f"{prefix}h_net{count + 1}.upsample1.1.weight" in sd or f"{prefix}h_net{count + 1}.upsample.1.weight" in sd:
        count += 1
    return list(range(1, count + 1))


def residual_count(sd: Mapping[str, torch.Tensor], stage_prefix: str) -> int:
    count = 0
    while f"{stage_prefix}residual.{count}.block.0.weight" in sd:
        count += 1
    return count


Progress = Callable[[int, int], None]


def stage_images(gan: GANGenerator, first_seed: int, count: int, truncation: float = 1.0, text: str | None = None,
                 stage: int = 0, progress: Progress | None = None, chunk: int = 64) -> torch.Tensor:
    """IMAGE [count, S, S, 3] of one stage (1 = 64², 2 = 128², ...; 0 = the last) of a StackGAN++ or AttnGAN
    generator, from seeds ``first_seed``, ``first_seed + 1``, ... with the latents ``GANGenerator.generate`` uses."""
    if not hasattr(gan.network, "stages"):
        raise ValueError(f"{gan.name or gan.kind} has no stages: only StackGAN++ and AttnGAN do")
    if gan.needs_text and not text:
        raise ValueError(f"{gan.name or gan.kind} is text-conditioned: give it a caption")
    images = []
    for start in range(0, count, chunk):
        seeds = list(range(first_seed + start, first_seed + min(count, start + chunk)))
        with torch.no_grad():
            outputs = gan.network.stages(gan.sample_z(seeds) * truncation, text)
        index = stage - 1 if stage else len(outputs) - 1
        if not 0 <= index < len(outputs):
            raise ValueError(f"stage {stage}: this generator has stages 1..{len(outputs)} (0 for the last)")
        images.append(to_image(outputs[index]))
        if progress is not None:
            progress(min(count, start + chunk), count)
    return torch.cat(images)
