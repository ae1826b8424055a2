"""Ways to combine the conditional and unconditional predictions, as functions a MODEL can carry
(ComfyUI's ``sampler_cfg_function``). Each takes the noisy input, sigma [B], both denoised predictions and the
CFG scale, and returns the guided denoised prediction.

``combine`` is the whole step as ComfyUI takes it (its ``cfg_function``): the model options' cfg function or plain
CFG, then each post-CFG function, with ComfyUI's argument dicts (``engine.sd.model_options``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

CfgFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
SamplerCfgFunction = Callable[[dict[str, Any]], torch.Tensor]  # ComfyUI's: args -> input - guided


def as_sampler_cfg_function(function: CfgFunction) -> SamplerCfgFunction:
    """``function`` in ComfyUI's convention (``args -> input - guided``), remembering the engine function."""

    def sampler_cfg_function(args: dict[str, Any]) -> torch.Tensor:
        x = args["input"]
        return x - function(x, args["sigma"], args["cond_denoised"], args["uncond_denoised"], args["cond_scale"])

    sampler_cfg_function.engine_function = function  # type: ignore[attr-defined]
    return sampler_cfg_function


def combine(model: Any, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
            scale: float, model_options: dict[str, Any], conds: tuple[Any, Any] = (None, None)) -> torch.Tensor:
    """The guided denoised prediction from both predictions, as ComfyUI's ``cfg_function`` makes it."""
    function = model_options.get("sampler_cfg_function")
    if function is None:
        guided = plain_cfg(x, sigma, cond, uncond, scale)
    else:
        args = {"cond": x - cond, "uncond": x - uncond, "cond_scale": scale, "timestep": sigma, "input": x,
                "sigma": sigma, "cond_denoised": cond, "uncond_denoised": uncond, "model": model,
                "model_options": model_options}
        guided = x - function(args)
    for post in model_options.get("sampler_post_cfg_function", []):
        guided = post({"denoised": guided, "cond": conds[0], "uncond": conds[1], "cond_scale": scale, "model": model,
                       "uncond_denoised": uncond, "cond_denoised": cond, "sigma": sigma,
                       "model_options": model_options, "input": x})
    return guided


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
