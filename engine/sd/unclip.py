"""SD2.1 unCLIP: the UNet's class vector ``y`` is a CLIP image embedding, noise-augmented, beside an embedding of
the noise level, as ComfyUI's ``unclip_adm`` and the original ``CLIPEmbeddingNoiseAugmentation`` build it.

Each image embedding of each ``unclip_conditioning`` entry (``unCLIPConditioning``: CLIP vision output, strength,
noise augmentation) is noised to level ``round(999 * noise_augmentation)`` of a 1000-step squared-cosine schedule
(its own noise drawn from ``seed``), followed by the level's sinusoidal embedding, and scaled by the strength.
Several embeddings are summed and their image half noised again at ``noise_augment_merge`` (ComfyUI's default
0.05), with noise drawn next from the same generator. Without image conditioning ``y`` is zeros. The embedding
statistics the noising normalises by are ComfyUI's (mean 0, std 1: the published checkpoints carry none).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.conditioning import Conditioning, set_values
from engine.sd.unet import timestep_embedding

NOISE_LEVELS = 1000  # the noise augmentation's schedule length (its max_noise_level)
MAX_BETA = 0.999
DEFAULT_MERGE_AUGMENTATION = 0.05  # ComfyUI's unclip_noise_augment_merge
SEED_OFFSET = -10  # ComfyUI draws the augmentation noise from the sampler's seed minus 10


def squared_cosine_alphas_cumprod(steps: int = NOISE_LEVELS) -> torch.Tensor:
    """The "squaredcos_cap_v2" schedule's cumulative alphas (float64), as ``betas_for_alpha_bar`` makes them."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), MAX_BETA)
                          for i in range(steps)], dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def noise_level(augmentation: float) -> int:
    """The schedule step of a noise augmentation 0..1 (ComfyUI: ``round((max_noise_level - 1) * augmentation)``)."""
    return round((NOISE_LEVELS - 1) * augmentation)


def augment(embeds: torch.Tensor, level: int, generator: torch.Generator) -> torch.Tensor:
    """``embeds`` [B, dim] noised to ``level`` followed by the level's embedding: [B, 2 * dim]."""
    alphas_cumprod = squared_cosine_alphas_cumprod()
    signal = alphas_cumprod.sqrt().float()[level]
    spread = (1.0 - alphas_cumprod).sqrt().float()[level]
    noise = torch.randn(embeds.shape, dtype=embeds.dtype, generator=generator)
    noised = signal * embeds + spread * noise
    level_embedding = timestep_embedding(torch.tensor([level]), embeds.shape[-1]).expand(embeds.shape[0], -1)
    return torch.cat([noised, level_embedding.to(embeds.dtype)], dim=1)


def unclip_adm(unclip_conditioning: list[dict[str, Any]] | None, adm_channels: int, seed: int = 0,
               merge_augmentation: float = DEFAULT_MERGE_AUGMENTATION) -> torch.Tensor:
    """``y`` [1, adm_channels] of one conditioning entry; ``seed`` is the sampler's."""
    if not unclip_conditioning:
        return torch.zeros(1, adm_channels)
    generator = torch.Generator()
    vectors = []
    for item in unclip_conditioning:
        for row in item["clip_vision_output"]["image_embeds"].float().cpu():
            generator.manual_seed(seed + SEED_OFFSET)
            level = noise_level(item["noise_augmentation"])
            vectors.append(augment(row[None], level, generator) * item["strength"])
    if vectors[0].shape[1] != adm_channels:
        raise ValueError(f"the image embedding is {vectors[0].shape[1] // 2} wide but this unCLIP model expects "
                         f"{adm_channels // 2}: encode the image with the checkpoint's own CLIP vision model")
    if len(vectors) == 1:
        return vectors[0]
    summed = torch.stack(vectors).sum(0)
    return augment(summed[:, :adm_channels // 2], noise_level(merge_augmentation), generator)


def add_unclip(conditioning: Conditioning, clip_vision_output: Any, strength: float,
               noise_augmentation: float) -> Conditioning:
    """unCLIPConditioning: the image appended to each entry's ``unclip_conditioning`` (strength 0: unchanged)."""
    if strength == 0:
        return conditioning
    item = {"clip_vision_output": clip_vision_output, "strength": strength, "noise_augmentation": noise_augmentation}
    return set_values(conditioning, {"unclip_conditioning": [item]}, append=True)
