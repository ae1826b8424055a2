"""StackGAN++ (hanzhanggit/StackGAN-v2) in plain torch: the three-stage tree 64² -> 128² -> 256².

Text-conditioned models (birds: ``B_CONDITION: True``) take a precomputed 1024-d char-CNN-RNN text embedding
through conditioning augmentation (``ca_net``); the embeddings are a dataset file the converter stores in the
model file as the ``embeddings`` tensor [N, 1024] (with optional captions in the metadata), and the GAN nodes'
``text`` picks a row: its number, or one of the stored captions. Unconditional models (LSUN bedroom/church,
ImageNet dog/cat) are driven by z alone, which then also plays the condition's part in the later stages, as in
the reference. Each later stage joins the condition (tiled over the pixels) to the features with a conv, runs
residual blocks and doubles the size, halving the channels. Birds and LSUN: GF_DIM 64, Z_DIM 100, EMBEDDING_DIM
128, R_NUM 2 (``code/cfg/*.yml``); sizes are read from shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from engine.gan.stacked import (
    ConditioningAugmentation,
    ImageHead,
    InitStage,
    ResBlock,
    conv_glu,
    residual_count,
    stage_numbers,
    up_block,
)


class JointStage(nn.Module):
    """NEXT_STAGE_G: [condition tiled, h] -> joint conv -> residual blocks -> up-block to half the channels."""

    def __init__(self, channels: int, condition_dim: int, residuals: int) -> None:
        super().__init__()
        self.jointConv = conv_glu(channels + condition_dim, channels)
        self.residual = nn.Sequential(*(ResBlock(channels) for _ in range(residuals)))
        self.upsample = up_block(channels, channels // 2)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        tiled = c[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.upsample(self.residual(self.jointConv(torch.cat([tiled, h], dim=1))))


class StackGANNet(nn.Module):
    """G_NET: (z, eps, embedding) or z alone -> each stage's image in -1..1."""

    def __init__(self, ngf: int, z_dim: int, stages: int, residuals: list[int], text_dim: int = 0,
                 c_dim: int = 0) -> None:
        super().__init__()
        if text_dim:
            self.ca_net = ConditioningAugmentation(text_dim, c_dim)
        condition_dim = c_dim if text_dim else z_dim
        self.h_net1 = InitStage(ngf * 16, z_dim + (c_dim if text_dim else 0))
        self.img_net1 = ImageHead(ngf)
        for number in range(2, stages + 1):
            channels = ngf // 2 ** (number - 2)
            self.add_module(f"h_net{number}", JointStage(channels, condition_dim, residuals[number - 2]))
            self.add_module(f"img_net{number}", ImageHead(channels // 2))
        self.stage_count = stages

    def forward(self, z: torch.Tensor, eps: torch.Tensor | None = None,
                embedding: torch.Tensor | None = None) -> list[torch.Tensor]:
        conditioned = embedding is not None and hasattr(self, "ca_net")
        c = self.ca_net(embedding, eps) if conditioned else z
        features = [self.h_net1(z, c if conditioned else None)]
        for number in range(2, self.stage_count + 1):
            features.append(getattr(self, f"h_net{number}")(features[-1], c))
        return [getattr(self, f"img_net{number}")(h) for number, h in enumerate(features, start=1)]


class StackGANGenerator(nn.Module):
    """G_NET plus, for text-conditioned models, the embeddings the ``text`` input picks from."""

    def __init__(self, netG: StackGANNet, embeddings: torch.Tensor | None = None,
                 captions: Sequence[str] = ()) -> None:
        super().__init__()
        self.netG = netG
        self.needs_text = hasattr(netG, "ca_net")
        if self.needs_text:
            if embeddings is None:
                raise ValueError("a text-conditioned StackGAN++ needs its text embeddings: convert it with "
                                 "`python -m engine.gan.convert_stackgan ... --embeddings FILE`")
            self.register_buffer("embeddings", embeddings.float())
        self.captions = list(captions)
        self.noise_dim = netG.h_net1.fc[0].in_features - (netG.ca_net.c_dim if self.needs_text else 0)
        self.z_dim = netG.h_net1.fc[0].in_features  # noise, then (conditioned) the augmentation's epsilon
        self.resolution = 64 * 2 ** (netG.stage_count - 1)

    def embedding_row(self, text: str) -> int:
        """``text`` is a row number of the embeddings, or one of the stored captions (case-insensitive)."""
        key = text.strip()
        lowered = [caption.strip().lower() for caption in self.captions]
        if key.isdigit() and int(key) < len(self.embeddings):
            return int(key)
        if key.lower() in lowered:
            return lowered.index(key.lower())
        choices = f"a row number 0..{len(self.embeddings) - 1}" + (" or one of its captions" if self.captions else "")
        raise ValueError(f"StackGAN++ picks a precomputed text embedding: {text!r} is not {choices}")

    def stages(self, latents: torch.Tensor, text: str | None = None) -> list[torch.Tensor]:
        if not self.needs_text:
            return self.netG(latents)
        if not text:
            raise ValueError("this StackGAN++ is text-conditioned: give the row number (or caption) of an embedding")
        embedding = self.embeddings[self.embedding_row(text)].expand(len(latents), -1)
        return self.netG(latents[:, :self.noise_dim], latents[:, self.noise_dim:], embedding)

    def forward(self, latents: torch.Tensor, text: str | None = None) -> torch.Tensor:
        return self.stages(latents, text)[-1]


def detect_stackgan(sd: Mapping[str, torch.Tensor]) -> dict[str, object]:
    """G_NET's sizes from the tensors under ``netG.``; KeyError when they are missing."""
    stages = stage_numbers(sd)
    if not stages:
        raise KeyError("no netG.h_net1 tensors")
    ngf = int(sd["netG.img_net1.img.0.weight"].shape[1])
    in_dim = int(sd["netG.h_net1.fc.0.weight"].shape[1])
    sizes: dict[str, object] = {"ngf": ngf, "z_dim": in_dim, "stages": len(stages),
                                "residuals": [residual_count(sd, f"netG.h_net{n}.") for n in stages[1:]]}
    if "netG.ca_net.fc.weight" in sd:
        ca = sd["netG.ca_net.fc.weight"]
        c_dim = int(ca.shape[0]) // 4
        sizes.update(z_dim=in_dim - c_dim, text_dim=int(ca.shape[1]), c_dim=c_dim)
    return sizes


def build_stackgan(sd: Mapping[str, torch.Tensor], captions: Sequence[str] = ()) -> StackGANGenerator:
    return StackGANGenerator(StackGANNet(**detect_stackgan(sd)), sd.get("embeddings"), captions)  # type: ignore[arg-type]
