"""Guidance combiners: RescaleCFG against ComfyUI's formulation (which works on ``x - denoised``)."""

from __future__ import annotations

import torch

from engine.sampling.cfg import plain_cfg, rescale_cfg


def comfyui_rescale(args: dict, multiplier: float) -> torch.Tensor:
    """ComfyUI's ``sampler_cfg_function`` for RescaleCFG, in its own argument convention, returning ``x - result``."""
    cond, uncond, scale, sigma, x_orig = args["cond"], args["uncond"], args["cond_scale"], args["sigma"], args["input"]
    sigma = sigma.view(sigma.shape[:1] + (1,) * (cond.ndim - 1))
    x = x_orig / (sigma * sigma + 1.0)
    cond = ((x - (x_orig - cond)) * (sigma**2 + 1.0) ** 0.5) / sigma
    uncond = ((x - (x_orig - uncond)) * (sigma**2 + 1.0) ** 0.5) / sigma
    x_cfg = uncond + scale * (cond - uncond)
    ro_pos = torch.std(cond, dim=(1, 2, 3), keepdim=True)
    ro_cfg = torch.std(x_cfg, dim=(1, 2, 3), keepdim=True)
    x_final = multiplier * x_cfg * (ro_pos / ro_cfg) + (1.0 - multiplier) * x_cfg
    return x_orig - (x - x_final * sigma / (sigma * sigma + 1.0) ** 0.5)


def test_rescale_cfg_matches_comfyui_and_multiplier_zero_is_plain_cfg() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64) * 5
    cond, uncond = torch.randn(2, 2, 4, 8, 8, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([4.0, 0.7], dtype=torch.float64)
    for multiplier in (0.0, 0.7, 1.0):
        args = {"cond": x - cond, "uncond": x - uncond, "cond_scale": 7.5, "sigma": sigma, "input": x}
        expected = x - comfyui_rescale(args, multiplier)
        got = rescale_cfg(multiplier)(x, sigma, cond, uncond, 7.5)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(rescale_cfg(0.0)(x, sigma, cond, uncond, 7.5), plain_cfg(x, sigma, cond, uncond, 7.5))
    assert not torch.allclose(rescale_cfg(0.7)(x, sigma, cond, uncond, 7.5), plain_cfg(x, sigma, cond, uncond, 7.5))
