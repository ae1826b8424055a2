"""ComfyUI's ``comfy.samplers`` as views of Atelier's sampler (``engine.sampling``).

- ``KSampler`` (``SAMPLERS``/``SCHEDULERS`` are Atelier's names, in ComfyUI's order) with ComfyUI's instance API;
  ``SAMPLER_NAMES``, ``SCHEDULER_NAMES``, ``KSAMPLER_NAMES`` (the pack-editable copies of Atelier's lists).
- ``KSAMPLER(sampler_function, extra_options, inpaint_options)``: a SAMPLER wrapping a k-diffusion-style function
  (``comfy.k_diffusion.sampling``'s views, or a pack's own); Atelier's SamplerCustom runs it, and a pack's guider
  runs Atelier's samplers by name. ``ksampler(name)``, ``sampler_object(name)``.
- ``CFGGuider``: Atelier's own guider (``engine.sampling.guiders``: set_conds, set_cfg, predict_noise, sample;
  subclasses overriding ``predict_noise`` are honoured), the GUIDER value of Atelier's guider nodes.
- ``calculate_sigmas``, ``calc_cond_batch``, ``cfg_function``, ``sampling_function``: ComfyUI's functions over
  Atelier's guidance (``engine.sampling.guidance``, ``engine.sampling.cfg``).

Partial: conditioning stays in Atelier's (= the CONDITIONING socket's) list form, where ComfyUI converts it to
dicts first; ``KSAMPLER.sample`` and other ``Sampler`` subclasses' ``sample`` (ComfyUI's internal calling
convention with its wrapped model) raise ``NotImplementedError``; ``inpaint_options`` are kept but not used.
``get_area_and_mult`` (ComfyUI's per-step conditioning-dict preparation, which packs such as smZNodes wrap) exists
and raises ``NotImplementedError``: Atelier's guidance never calls it, so wrapping it changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.sampling import names
from engine.sampling.guiders import CFGGuider  # ComfyUI's guider is Atelier's

# Copies of Atelier's lists: packs insert their own samplers into ComfyUI's (smZNodes adds "dpmpp_2m_alt"), which
# must not change the names Atelier's engine checks and its KSampler offers.
SAMPLER_NAMES = list(names.SAMPLER_NAMES)
SCHEDULER_NAMES = list(names.SCHEDULER_NAMES)
KSAMPLER_NAMES = list(names.SAMPLER_NAMES)
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}


def __getattr__(name: str) -> Any:
    if name == "k_diffusion_sampling":
        import comfy.k_diffusion.sampling as k_diffusion_sampling

        return k_diffusion_sampling
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Sampler:
    """ComfyUI's SAMPLER base class. Atelier runs a sampler object by calling it over its denoiser
    (``engine.sampling.ksampler.SamplerObject``); ``KSAMPLER`` does."""

    def __call__(self, denoiser: Callable, x: Any, sigmas: Any, callback: Callable | None = None,
                 seed: int = 0) -> Any:
        raise NotImplementedError(f"{type(self).__name__} is a Sampler with its own sample(): Atelier runs "
                                  "KSAMPLER objects (a k-diffusion-style sampler function) only")

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Sampler.sample (ComfyUI's internal call with its wrapped model) is not "
                                  "available in Atelier; pass the sampler to SamplerCustom or CFGGuider.sample")

    def max_denoise(self, model_wrap: Any, sigmas: Any) -> bool:
        sigma_max = float(model_wrap.inner_model.model_sampling.sigma_max)
        return math.isclose(sigma_max, float(sigmas[0]), rel_tol=1e-05) or float(sigmas[0]) > sigma_max


class KSAMPLER(Sampler):
    """A sampler made of a k-diffusion-style function ``fn(model, x, sigmas, extra_args, callback, disable,
    **extra_options)``, as Atelier's custom samplers accept it."""

    def __init__(self, sampler_function: Callable, extra_options: dict | None = None,
                 inpaint_options: dict | None = None) -> None:
        self.sampler_function = sampler_function
        self.extra_options = dict(extra_options or {})
        self.inpaint_options = dict(inpaint_options or {})

    def __call__(self, denoiser: Callable, x: Any, sigmas: Any, callback: Callable | None = None,
                 seed: int = 0) -> Any:
        # ComfyUI's samplers reach the guider as model.inner_model, and through it inner_model (the BaseModel)
        # and model_patcher (the MODEL); an inpainting step wraps the guider it runs.
        guider = getattr(denoiser, "guider", denoiser)
        own_options = getattr(guider, "model_options", {})

        def model(x_: Any, sigma: Any, **extra_args: Any) -> Any:
            """The denoiser, under the model options the sampler passes when they are its own (CFG++'s)."""
            options = extra_args.get("model_options", own_options)
            if options is not own_options and hasattr(denoiser, "with_model_options"):
                return denoiser.with_model_options(options)(x_, sigma)
            return denoiser(x_, sigma)

        model.inner_model = guider  # type: ignore[attr-defined]

        def k_callback(info: dict) -> None:
            if callback is not None:
                callback(info["i"], info["x"], info["sigma"], info["denoised"])

        extra_args = {"seed": seed, "model_options": own_options}
        return self.sampler_function(model, x, sigmas, extra_args=extra_args, callback=k_callback, disable=True,
                                     **self.extra_options)


def ksampler(sampler_name: str, extra_options: dict | None = None, inpaint_options: dict | None = None) -> KSAMPLER:
    """The KSAMPLER of one of Atelier's samplers by name."""
    from comfy.k_diffusion.sampling import view_of

    return KSAMPLER(view_of(sampler_name), extra_options, inpaint_options)


def sampler_object(name: str) -> KSAMPLER:
    return ksampler(name)


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> Any:
    from engine.sampling.schedulers import get_sigmas

    return get_sigmas(model_sampling, scheduler_name, steps)


def calc_cond_batch(model: Any, conds: list, x_in: Any, timestep: Any, model_options: dict | None = None) -> list:
    """The denoised prediction for each conditioning list (None: zeros), areas and masks averaged."""
    from engine.sampling.guidance import GuidedDenoiser

    denoiser = GuidedDenoiser(_engine_model(model), [], None, 1.0, model_options=model_options)
    return denoiser.predictions(list(conds), x_in, timestep)


def cfg_function(model: Any, cond_pred: Any, uncond_pred: Any, cond_scale: float, x: Any, timestep: Any,
                 model_options: dict | None = None, cond: Any = None, uncond: Any = None) -> Any:
    """Plain CFG or the model options' cfg function, then the post-CFG functions."""
    from engine.sampling.cfg import combine

    return combine(model, x, timestep, cond_pred, uncond_pred, cond_scale, model_options or {}, (cond, uncond))


def sampling_function(model: Any, x: Any, timestep: Any, uncond: Any, cond: Any, cond_scale: float,
                      model_options: dict | None = None, seed: int | None = None) -> Any:
    """The guided denoised prediction of ``x`` at sigma ``timestep`` (ComfyUI's argument order: uncond first)."""
    from engine.sampling.guidance import GuidedDenoiser

    return GuidedDenoiser(_engine_model(model), cond, uncond, cond_scale, model_options=model_options)(x, timestep)


def get_area_and_mult(conds: dict, x_in: Any, timestep_in: Any) -> Any:
    """ComfyUI's per-step preparation of one conditioning dict: Atelier's guidance keeps conditioning in list form
    (``engine.sampling.guidance``) and has no such step."""
    raise NotImplementedError("comfy.samplers.get_area_and_mult: Atelier's guidance does not prepare ComfyUI's "
                              "conditioning dicts (engine.sampling.guidance works on CONDITIONING lists)")


def sample(model: Any, noise: Any, positive: Any, negative: Any, cfg: float, device: Any, sampler: Any,
           sigmas: Any, model_options: dict | None = None, latent_image: Any = None, denoise_mask: Any = None,
           callback: Callable | None = None, disable_pbar: bool = False, seed: int | None = None) -> Any:
    """A sampler over ``sigmas`` with CFG guidance: ``CFGGuider(model).sample``, as ComfyUI's module function
    (which, like this one, guides with the MODEL's own options and leaves ``model_options`` and ``device`` unused)."""
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)


def _engine_model(model: Any) -> Any:
    """Atelier's MODEL from what ComfyUI passes here (the ModelPatcher, or its ``model``)."""
    return getattr(model, "_owner", model)


def _step_callback(callback: Callable | None) -> Callable | None:
    if callback is None:
        return None
    return lambda step, total, x0: callback(step, x0, None, total)


class KSampler:
    """ComfyUI's KSampler object: a model, a step count, sampler and scheduler names and a denoise amount."""

    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = DISCARD_PENULTIMATE_SIGMA_SAMPLERS

    def __init__(self, model: Any, steps: int, device: Any = None, sampler: str | None = None,
                 scheduler: str | None = None, denoise: float | None = None, model_options: dict | None = None) -> None:
        self.model = model
        self.device = device
        self.sampler = sampler if sampler in self.SAMPLERS else self.SAMPLERS[0]
        self.scheduler = scheduler if scheduler in self.SCHEDULERS else self.SCHEDULERS[0]
        self.model_options = model_options or {}
        self.set_steps(steps, denoise)

    def calculate_sigmas(self, steps: int) -> Any:
        from engine.sampling.ksampler import schedule

        return schedule(self.model.model_sampling, self.scheduler, self.sampler, steps)

    def set_steps(self, steps: int, denoise: float | None = None) -> None:
        from engine.sampling.ksampler import schedule

        self.steps = steps
        self.denoise = 1.0 if denoise is None else denoise
        self.sigmas = schedule(self.model.model_sampling, self.scheduler, self.sampler, steps, self.denoise)

    def sample(self, noise: Any, positive: Any, negative: Any, cfg: float, latent_image: Any = None,
               start_step: int | None = None, last_step: int | None = None, force_full_denoise: bool = False,
               denoise_mask: Any = None, sigmas: Any = None, callback: Callable | None = None,
               disable_pbar: bool = False, seed: int | None = None) -> Any:
        return _sample_over(self.model, noise, positive, negative, cfg, self.sampler,
                            self.sigmas if sigmas is None else sigmas, latent_image, start_step, last_step,
                            force_full_denoise, denoise_mask, callback, seed)


def _sample_over(model: Any, noise: Any, positive: Any, negative: Any, cfg: float, sampler_name: str, sigmas: Any,
                 latent_image: Any, start_step: int | None, last_step: int | None, force_full_denoise: bool,
                 denoise_mask: Any, callback: Callable | None, seed: int | None) -> Any:
    """Atelier's KSampler over ``sigmas`` cut to ``start_step``..``last_step``; ``latent_image`` when no step is
    left (``KSampler.sample`` and ``comfy.sample.sample`` with explicit sigmas)."""
    from engine.sampling.ksampler import sample_sigmas, trim

    sigmas = trim(sigmas, start_step, last_step, force_full_denoise) if len(sigmas) else None
    if sigmas is None or len(sigmas) == 0:
        return latent_image
    return sample_sigmas(model, noise, positive, negative, cfg, sampler_name, sigmas, latent_image, denoise_mask,
                         _step_callback(callback), 0 if seed is None else seed)
