"""KSampler: schedule, initial noise, guided denoiser and sampler, with ComfyUI's semantics for ``denoise``,
start/end steps and inpainting masks."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from engine.sampling.guidance import Conditioning, GuidedDenoiser
from engine.sampling.noise import BrownianTreeNoise, GaussianNoise, prepare_noise
from engine.sampling.registry import DEVICE_NOISE_SAMPLERS, DISCARD_PENULTIMATE, SDE_SAMPLERS, sampler_function
from engine.sampling.schedulers import get_sigmas

StepCallback = Callable[[int, int, torch.Tensor], None]  # (step, total steps, denoised x0 in model space)
# A sampler given as an object instead of a name (ComfyUI's KSAMPLER): runs the whole schedule over the denoiser,
# drawing its own step noise from the seed; fn(denoiser, x, sigmas, callback=..., seed=...) -> x.
SamplerObject = Callable[..., torch.Tensor]


def schedule(model_sampling: Any, scheduler: str, sampler_name: str, steps: int,
             denoise: float = 1.0) -> torch.Tensor:
    """The sigmas KSampler runs: ``denoise < 1`` keeps the last ``steps + 1`` of a longer schedule."""

    def full(n: int) -> torch.Tensor:
        if sampler_name in DISCARD_PENULTIMATE:
            sigmas = get_sigmas(model_sampling, scheduler, n + 1)
            return torch.cat([sigmas[:-2], sigmas[-1:]])
        return get_sigmas(model_sampling, scheduler, n)

    if denoise > 0.9999:
        return full(steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return full(int(steps / denoise))[-(steps + 1):]


def trim(sigmas: torch.Tensor, start_step: int | None, last_step: int | None,
         force_full_denoise: bool) -> torch.Tensor | None:
    """KSamplerAdvanced's window; None when there is nothing left to do."""
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return None
        sigmas = sigmas[start_step:]
    return sigmas


def fit_empty_latent_channels(latent: torch.Tensor, channels: int) -> torch.Tensor:
    """Empty latents made for another family get the model's channel count (ComfyUI's
    ``fix_empty_latent_channels``)."""
    if latent.shape[1] == channels or torch.count_nonzero(latent) != 0:
        return latent
    return torch.zeros(latent.shape[0], channels, *latent.shape[2:], dtype=latent.dtype)


class _Inpainter:
    """Keeps the unmasked part of the original latent, re-noised to the current sigma, at every step."""

    def __init__(self, denoiser: GuidedDenoiser, mask: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor,
                 model_sampling: Any) -> None:
        self.denoiser, self.latent, self.noise, self.ms = denoiser, latent, noise, model_sampling
        self.sigmas: torch.Tensor | None = None  # the schedule being run (for a denoise_mask_function)
        mask = mask.float().reshape(-1, 1, *mask.shape[-2:])
        mask = F.interpolate(mask, size=latent.shape[-2:], mode="bilinear", align_corners=False)
        repeats = math.ceil(latent.shape[0] / mask.shape[0])
        self.mask = mask.repeat(repeats, latent.shape[1], 1, 1)[: latent.shape[0]]

    @property
    def guider(self) -> GuidedDenoiser:
        """The guided denoiser each step runs (ComfyUI's ``KSamplerX0Inpaint.inner_model``)."""
        return self.denoiser

    @property
    def model_options(self) -> dict[str, Any]:
        return self.denoiser.model_options

    def with_model_options(self, model_options: dict[str, Any]) -> _Inpainter:
        """The same inpainting over the guided denoiser under other model options (``engine.sampling.cfg_pp``)."""
        inpainter = copy.copy(self)
        inpainter.denoiser = self.denoiser.with_model_options(model_options)
        return inpainter

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        mask = self.mask
        mask_function = self.denoiser.model_options.get("denoise_mask_function")
        if mask_function is not None:  # ComfyUI's model option: the mask as a function of the step
            mask = mask_function(sigma, mask, extra_options={"model": self.denoiser, "sigmas": self.sigmas})
        keep = 1.0 - mask
        x = x * mask + self.ms.noise_scaling(sigma, self.noise, self.latent) * keep
        return self.denoiser(x, sigma) * mask + self.latent * keep


def sample(model: Any, noise: torch.Tensor, positive: Conditioning, negative: Conditioning, cfg: float,
           sampler_name: str, scheduler: str, steps: int, latent: torch.Tensor, denoise: float = 1.0,
           start_step: int | None = None, last_step: int | None = None, force_full_denoise: bool = False,
           noise_mask: torch.Tensor | None = None, callback: StepCallback | None = None,
           seed: int = 0) -> torch.Tensor:
    """Denoise ``latent`` (VAE space) and return the result in VAE space."""
    sigmas = schedule(model.model_sampling, scheduler, sampler_name, steps, denoise)
    sigmas = trim(sigmas, start_step, last_step, force_full_denoise) if len(sigmas) else None
    if sigmas is None or len(sigmas) == 0:
        return latent
    return sample_sigmas(model, noise, positive, negative, cfg, sampler_name, sigmas, latent, noise_mask, callback,
                         seed)


def sample_sigmas(model: Any, noise: torch.Tensor, positive: Conditioning, negative: Conditioning, cfg: float,
                  sampler_name: str | SamplerObject, sigmas: torch.Tensor, latent: torch.Tensor,
                  noise_mask: torch.Tensor | None = None, callback: StepCallback | None = None,
                  seed: int = 0, denoiser: GuidedDenoiser | None = None) -> torch.Tensor:
    """Run ``sampler_name`` (or a sampler object) over an explicit schedule (SamplerCustom); VAE space in and
    out. ``denoiser`` replaces the guided denoiser of ``positive``, ``negative`` and ``cfg`` (ComfyUI's guider
    objects); it has the model and its ``model_options``."""
    ms, fmt = model.model_sampling, model.latent_format
    latent = fit_empty_latent_channels(latent, fmt.channels)
    start = fmt.process_in(latent)
    full_denoise = math.isclose(float(ms.sigma_max), float(sigmas[0]), rel_tol=1e-5) or sigmas[0] > ms.sigma_max
    x = ms.noise_scaling(sigmas[0], noise, start, full_denoise)

    if denoiser is None:
        denoiser = GuidedDenoiser(model, positive, negative, cfg, start, noise_mask, seed=seed)
    step_model = _Inpainter(denoiser, noise_mask, start, noise, ms) if noise_mask is not None else denoiser
    if isinstance(step_model, _Inpainter):
        step_model.sigmas = sigmas
    total = len(sigmas) - 1

    def report(i: int, x_: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> None:
        if callback is not None:
            callback(i, total, denoised)

    if not isinstance(sampler_name, str):
        result = sampler_name(step_model, x, sigmas, callback=report, seed=seed)
        return fmt.process_out(ms.inverse_noise_scaling(sigmas[-1], result))
    if sampler_name in SDE_SAMPLERS:
        positive_sigmas = sigmas[sigmas > 0]
        step_noise: Any = BrownianTreeNoise(x, float(positive_sigmas.min()), float(sigmas.max()), seed,
                                            on_device=sampler_name in DEVICE_NOISE_SAMPLERS)
    else:
        step_noise = GaussianNoise(x, seed)
    result = sampler_function(sampler_name)(step_model, x, sigmas, callback=report, noise=step_noise)
    return fmt.process_out(ms.inverse_noise_scaling(sigmas[-1], result))


def sample_latent(model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                  positive: Conditioning, negative: Conditioning, latent: dict, denoise: float = 1.0,
                  add_noise: bool = True, start_step: int | None = None, last_step: int | None = None,
                  force_full_denoise: bool = False, callback: StepCallback | None = None) -> dict:
    """ComfyUI's ``common_ksampler`` over a LATENT dict: noise from ``seed`` (ComfyUI's CPU noise, per
    ``batch_index``) or none, the inpainting ``noise_mask`` honoured; the dict comes back with its samples
    replaced."""
    samples = latent["samples"]
    noise = prepare_noise(samples, seed, latent.get("batch_index")) if add_noise \
        else torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")
    result = sample(model, noise, positive, negative, cfg, sampler_name, scheduler, steps, samples,
                    denoise=denoise, start_step=start_step, last_step=last_step,
                    force_full_denoise=force_full_denoise, noise_mask=latent.get("noise_mask"),
                    callback=callback, seed=seed)
    out = {key: value for key, value in latent.items() if key != "downscale_ratio_spacial"}
    out["samples"] = result
    return out
