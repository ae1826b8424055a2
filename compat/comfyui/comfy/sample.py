"""ComfyUI's ``comfy.sample``: noise and sampling as views of Atelier's KSampler (``engine.sampling``).

``callback(step, x0, x, total_steps)`` is called as ComfyUI calls it, with ``x`` None (Atelier's sampler reports
the denoised prediction only). Latents are in VAE space in and out, as ComfyUI's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def prepare_noise(latent_image: Any, seed: int, noise_inds: list[int] | None = None) -> Any:
    """ComfyUI's CPU noise for ``seed`` (``noise_inds``: the batch indices, as a LATENT's ``batch_index``)."""
    from engine.sampling.noise import prepare_noise as engine_prepare_noise

    return engine_prepare_noise(latent_image, seed, noise_inds)


def fix_empty_latent_channels(model: Any, latent_image: Any) -> Any:
    """An all-zero latent made for another family gets the model's channel count."""
    from engine.sampling.ksampler import fit_empty_latent_channels

    return fit_empty_latent_channels(latent_image, model.latent_format.channels)


def sample(model: Any, noise: Any, steps: int, cfg: float, sampler_name: str, scheduler: str, positive: Any,
           negative: Any, latent_image: Any, denoise: float = 1.0, disable_noise: bool = False,
           start_step: int | None = None, last_step: int | None = None, force_full_denoise: bool = False,
           noise_mask: Any = None, sigmas: Any = None, callback: Callable | None = None, disable_pbar: bool = False,
           seed: int | None = None) -> Any:
    """KSampler's sampling (``engine.sampling.ksampler.sample``); ``disable_noise`` is unused here, as in
    ComfyUI (the caller passes zero noise)."""
    from comfy.samplers import _sample_over, _step_callback
    from engine.sampling import ksampler

    if sigmas is not None:
        return _sample_over(model, noise, positive, negative, cfg, sampler_name, sigmas, latent_image, start_step,
                            last_step, force_full_denoise, noise_mask, callback, seed)
    return ksampler.sample(model, noise, positive, negative, cfg, sampler_name, scheduler, steps, latent_image,
                           denoise=denoise, start_step=start_step, last_step=last_step,
                           force_full_denoise=force_full_denoise, noise_mask=noise_mask,
                           callback=_step_callback(callback), seed=seed or 0)


def sample_custom(model: Any, noise: Any, cfg: float, sampler: Any, sigmas: Any, positive: Any, negative: Any,
                  latent_image: Any, noise_mask: Any = None, callback: Callable | None = None,
                  disable_pbar: bool = False, seed: int | None = None) -> Any:
    """SamplerCustom's sampling: a sampler (a name or a KSAMPLER) over an explicit schedule."""
    from comfy.samplers import CFGGuider

    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask=noise_mask, callback=callback,
                         disable_pbar=disable_pbar, seed=seed)
