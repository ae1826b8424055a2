"""The values that flow between nodes, by socket type: ComfyUI's conventions, so plug-ins interoperate.

| socket | Python value |
| --- | --- |
| IMAGE | ``torch.float32`` tensor ``[B, H, W, C]``, values 0..1, on the CPU |
| MASK | ``torch.float32`` tensor ``[B, H, W]``, 0..1 |
| LATENT | ``Latent``: ``samples`` ``[B, C, H/8, W/8]``, unscaled VAE space; optional ``noise_mask``, ``batch_index`` |
| CONDITIONING | ``Conditioning``: ``[cond [B, tokens, dim], {"pooled_output": tensor or None, ...extras}]`` pairs |
| MODEL, CLIP, VAE, CONTROL_NET, GAN, IMAGE_TO_IMAGE_GAN, METRICS | engine objects (``docs/architecture.md``) |
| DATASET_SHARD | ``core.shards.DatasetShard``: one shard of a prompt dataset run (texts, seeds, global indices) |

Only names and shapes live here: this module imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import torch

SOCKET_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "CONTROL_NET", "GAN",
                "IMAGE_TO_IMAGE_GAN", "METRICS", "DATASET_SHARD", "UPSCALE_MODEL", "SIGMAS", "SAMPLER", "GUIDER",
                "NOISE", "INT", "FLOAT", "STRING", "BOOLEAN", "*")

Conditioning = list[list[Any]]  # [[cond tensor, options dict], ...]


class Latent(TypedDict, total=False):
    samples: torch.Tensor
    noise_mask: torch.Tensor
    batch_index: list[int]
