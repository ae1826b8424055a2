"""Ways to combine the conditional and unconditional predictions, as functions a MODEL can carry
(ComfyUI's ``sampler_cfg_function``). Each takes the noisy input, sigma [B], both denoised predictions and the
CFG scale, and returns the guided denoised prediction."""

from __future__ import annotations

from collections.abc import Callable

import torch

CfgFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def plain_cfg(x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
              scale: float) -> torch.Tensor:
    return uncond + (cond - uncond) * scale


def rescale_cfg(multiplier: float) -> CfgFunction:
    """RescaleCFG ("Common Diffusion Noise Schedules and Sample Steps Are Flawed", section 3.4): guidance in v space,
    with the result's standard deviation pulled back towards the conditional prediction's by ``multiplier``."""

    def combine(x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
                scale: float) -> torch.Tensor:
        sigma = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x)
        root = (sigma**2 + 1.0) ** 0.5
        x_scaled = x / (sigma**2 + 1.0)
        cond_v = (x_scaled - cond) * root / sigma
        uncond_v = (x_scaled - uncond) * root / sigma
        guided = uncond_v + scale * (cond_v - uncond_v)
        dims = tuple(range(1, x.ndim))
        rescaled = guided * cond_v.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True)
        final = multiplier * rescaled + (1.0 - multiplier) * guided
        return x_scaled - final * sigma / root

    return combine
