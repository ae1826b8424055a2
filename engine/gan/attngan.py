"""AttnGAN (taoxugit/AttnGAN) in plain torch: a StackGAN++ tree whose later stages attend to the caption's words.

The file holds ``G_NET`` under ``netG.*`` and the DAMSM text encoder (``engine.gan.damsm``) under
``text_encoder.*``; the vocabulary (``wordtoix``) comes from the metadata or the JSON beside it (see
``engine.gan.convert_attngan``). The caption's sentence embedding goes through conditioning augmentation into the
64² stage; each later stage concatenates its features with the word context of ``GlobalAttentionGeneral``
(features attend over the words), runs residual blocks, and doubles the size. Birds: GF_DIM 32, R_NUM 2;
COCO: GF_DIM 48, R_NUM 3 (``code/cfg/*.yml``); both Z_DIM 100, CONDITION_DIM 100, three stages to 256². Sizes are
read from shapes. The attn-DCGAN variant (``G_DCGAN``: one ``img_net`` after the last stage) loads too.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from engine.gan.damsm import TextEncoder, detect_text_encoder, tokenize
from engine.gan.stacked import (
    ConditioningAugmentation,
    ImageHead,
    InitStage,
    ResBlock,
    residual_count,
    stage_numbers,
    up_block,
)


class WordAttention(nn.Module):
    """GlobalAttentionGeneral without a mask (one unpadded caption): each pixel's context is the mix of the words
    (projected to the feature width by ``conv_context``) weighted by the softmax of their dot products."""

    def __init__(self, channels: int, word_dim: int) -> None:
        super().__init__()
        self.conv_context = nn.Conv2d(word_dim, channels, 1, bias=False)

    def forward(self, h: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """h [B, C, H, W], words [B, word_dim, T] -> word context [B, C, H, W]."""
        source = self.conv_context(words.unsqueeze(3)).squeeze(3)  # [B, C, T]
        attention = torch.softmax(h.flatten(2).transpose(1, 2) @ source, dim=-1)  # [B, H*W, T]
        return (source @ attention.transpose(1, 2)).view_as(h)


class AttentionStage(nn.Module):
    """NEXT_STAGE_G: [h, word context] -> residual blocks -> up-block back to ``channels``."""

    def __init__(self, channels: int, word_dim: int, residuals: int) -> None:
        super().__init__()
        self.att = WordAttention(channels, word_dim)
        self.residual = nn.Sequential(*(ResBlock(channels * 2) for _ in range(residuals)))
        self.upsample = up_block(channels * 2, channels)

    def forward(self, h: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.residual(torch.cat([h, self.att(h, words)], dim=1)))


class AttnGANNet(nn.Module):
    """G_NET (or G_DCGAN with ``shared_head``): (z, eps, sentence, words) -> each stage's image in -1..1."""

    def __init__(self, ngf: int, z_dim: int, c_dim: int, text_dim: int, stages: int, residuals: int,
                 shared_head: bool = False) -> None:
        super().__init__()
        self.ca_net = ConditioningAugmentation(text_dim, c_dim)
        self.h_net1 = InitStage(ngf * 16, z_dim + c_dim)
        for number in range(2, stages + 1):
            self.add_module(f"h_net{number}", AttentionStage(ngf, text_dim, residuals))
        heads = ["img_net"] if shared_head else [f"img_net{number}" for number in range(1, stages + 1)]
        for name in heads:
            self.add_module(name, ImageHead(ngf))
        self.stage_count, self.shared_head = stages, shared_head

    def forward(self, z: torch.Tensor, eps: torch.Tensor, sentence: torch.Tensor,
                words: torch.Tensor) -> list[torch.Tensor]:
        c = self.ca_net(sentence, eps)
        features = [self.h_net1(z, c)]
        for number in range(2, self.stage_count + 1):
            features.append(getattr(self, f"h_net{number}")(features[-1], words))
        if self.shared_head:
            return [self.img_net(features[-1])]
        return [getattr(self, f"img_net{number}")(h) for number, h in enumerate(features, start=1)]


class AttnGANGenerator(nn.Module):
    """G_NET with its DAMSM encoder and vocabulary: caption + latents [B, z + c] -> the last stage's image."""

    needs_text = True

    def __init__(self, netG: AttnGANNet, text_encoder: TextEncoder, wordtoix: Mapping[str, int]) -> None:
        super().__init__()
        self.netG = netG
        self.text_encoder = text_encoder
        self.wordtoix = dict(wordtoix)
        self.noise_dim = netG.h_net1.fc[0].in_features - netG.ca_net.c_dim
        self.z_dim = netG.h_net1.fc[0].in_features  # noise, then the conditioning augmentation's epsilon
        self.resolution = 64 * 2 ** (netG.stage_count - 1)

    def encode_text(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(words [1, D, T], sentence [1, D]) of one caption."""
        return self.text_encoder.encode(torch.tensor([tokenize(text, self.wordtoix)]))

    def stages(self, latents: torch.Tensor, text: str | None) -> list[torch.Tensor]:
        if not text:
            raise ValueError("AttnGAN is text-conditioned: give it a caption")
        words, sentence = self.encode_text(text)
        batch = len(latents)
        return self.netG(latents[:, :self.noise_dim], latents[:, self.noise_dim:], sentence.expand(batch, -1),
                         words.expand(batch, -1, -1))

    def forward(self, latents: torch.Tensor, text: str | None) -> torch.Tensor:
        return self.stages(latents, text)[-1]


def detect_attngan(sd: Mapping[str, torch.Tensor]) -> dict[str, object]:
    """G_NET's sizes from the tensors under ``netG.``; KeyError when the file is not an AttnGAN."""
    stages = stage_numbers(sd)
    if "netG.ca_net.fc.weight" not in sd or len(stages) < 2 or "netG.h_net2.att.conv_context.weight" not in sd:
        raise KeyError("no netG.ca_net / netG.h_netK.att tensors")
    ca = sd["netG.ca_net.fc.weight"]
    c_dim = int(ca.shape[0]) // 4
    return {"ngf": int(sd["netG.h_net2.att.conv_context.weight"].shape[0]),
            "z_dim": int(sd["netG.h_net1.fc.0.weight"].shape[1]) - c_dim, "c_dim": c_dim,
            "text_dim": int(ca.shape[1]), "stages": len(stages),
            "residuals": residual_count(sd, "netG.h_net2."), "shared_head": "netG.img_net.img.0.weight" in sd}


def build_attngan(sd: Mapping[str, torch.Tensor], wordtoix: Mapping[str, int]) -> AttnGANGenerator:
    return AttnGANGenerator(AttnGANNet(**detect_attngan(sd)),  # type: ignore[arg-type]
                            TextEncoder(**detect_text_encoder(sd, "text_encoder.")), wordtoix)  # type: ignore[arg-type]
