"""ComfyUI's ``comfy.ldm.modules.diffusionmodules.util``: the helpers packs building UNet-like networks import.
``timestep_embedding`` is Atelier's (``engine.sd.unet.timestep_embedding``)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["timestep_embedding", "zero_module"]


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0,
                       repeat_only: bool = False) -> torch.Tensor:
    """The sinusoidal ``[cos | sin]`` embedding of ``timesteps`` [B] -> [B, dim] (``repeat_only``: the timesteps
    repeated, as ComfyUI's)."""
    from engine.sd.unet import timestep_embedding as engine_embedding

    if repeat_only:
        return timesteps[:, None].expand(-1, dim)
    embedding = engine_embedding(timesteps, dim, max_period)
    if dim % 2:  # an odd width ends with a zero column
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def zero_module(module: nn.Module) -> nn.Module:
    """``module`` with every parameter zeroed (a new branch that starts as a no-op)."""
    for p in module.parameters():
        p.detach().zero_()
    return module
