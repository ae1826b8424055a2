"""SamplerCustom: a named sampler over an explicit schedule, returning the last denoised prediction as well."""

from __future__ import annotations

from typing import Any

import torch

from engine.sampling.guidance import Conditioning
from engine.sampling.ksampler import StepCallback, sample_sigmas
from engine.sampling.noise import prepare_noise


def sample_custom(model: Any, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
                  negative: Conditioning, sampler_name: str, sigmas: torch.Tensor, latent_image: dict,
                  callback: StepCallback | None = None) -> tuple[dict, dict]:
    """(output, denoised output) latent dicts: the sampled latent, and the model's last prediction of the clean
    latent (ComfyUI's ``denoised_output``), both in VAE space. Fewer than two sigmas leave the latent as it is."""
    if len(sigmas) < 2:
        return latent_image, latent_image
    latent = latent_image["samples"]
    noise = prepare_noise(latent, noise_seed, latent_image.get("batch_index")) if add_noise \
        else torch.zeros_like(latent)
    last: dict[str, torch.Tensor] = {}

    def keep_last(step: int, total: int, x0: torch.Tensor) -> None:
        last["x0"] = x0
        if callback is not None:
            callback(step, total, x0)

    samples = sample_sigmas(model, noise, positive, negative, cfg, sampler_name, sigmas, latent,
                            latent_image.get("noise_mask"), keep_last, noise_seed)
    denoised = model.latent_format.process_out(last["x0"]) if "x0" in last else samples
    return {**latent_image, "samples": samples}, {**latent_image, "samples": denoised}
