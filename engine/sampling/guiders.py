"""GUIDER values of custom sampling: a MODEL with its conditionings and guidance scales, which samples a latent with a
sampler over a schedule (ComfyUI's ``comfy.samplers.CFGGuider`` protocol, which ComfyUI's plug-ins subclass).

- ``CFGGuider``: positive, negative and one CFG scale; it denoises exactly as KSampler does.
- ``BasicGuider``: the positive conditioning alone (guidance-distilled models).
- ``DualCFGGuider``: two conditionings and a negative, each difference with its own scale (InstructPix2Pix-style
  edit models: the image conditioning, then the text).

A subclass that overrides ``predict_noise(x, sigma, model_options, seed) -> denoised`` is sampled through it;
``calc_cond_batch`` gives the model's denoised prediction per conditioning list, with the start latent and
inpainting mask of the running ``sample``. Torch is imported only when sampling, so ComfyUI's ``comfy.samplers`` can
be these classes without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from engine.conditioning import Conditioning
    from engine.sampling.guidance import GuidedDenoiser

# ComfyUI's step callback: (step, denoised x0 in model space, x (None here: Atelier reports x0 only), total steps)
GuiderCallback = Callable[[int, Any, Any, int], None]


class CFGGuider:
    """A MODEL, its conditionings (``conds``: name -> CONDITIONING) and a CFG scale."""

    def __init__(self, model_patcher: Any) -> None:
        self.model_patcher = model_patcher
        self.model_options: dict[str, Any] = model_patcher.model_options
        self.original_conds: dict[str, Any] = {}
        self.cfg = 1.0
        self._start: torch.Tensor | None = None  # the running sample's start latent (model space) and mask
        self._mask: torch.Tensor | None = None

    def set_conds(self, positive: Conditioning, negative: Conditioning) -> None:
        self.inner_set_conds({"positive": positive, "negative": negative})

    def set_cfg(self, cfg: float) -> None:
        self.cfg = cfg

    def inner_set_conds(self, conds: dict[str, Any]) -> None:
        self.original_conds.update(conds)

    @property
    def conds(self) -> dict[str, Any]:
        return self.original_conds

    @property
    def inner_model(self) -> Any:
        """The MODEL's ``BaseModel`` view, which ComfyUI's guiders pass to ``calc_cond_batch`` and ``cfg_function``."""
        return self.model_patcher.model

    def denoiser(self, model_options: dict[str, Any] | None = None) -> GuidedDenoiser:
        """Atelier's guided denoiser of the positive and negative conditionings with this CFG scale."""
        from engine.sampling.guidance import GuidedDenoiser

        options = self.model_options if model_options is None else model_options
        return GuidedDenoiser(self.model_patcher, self.conds.get("positive", []), self.conds.get("negative"),
                              self.cfg, self._start, self._mask, model_options=options)

    def calc_cond_batch(self, conds: list[Conditioning | None], x: torch.Tensor, sigma: torch.Tensor,
                        model_options: dict[str, Any] | None = None) -> list[torch.Tensor]:
        """The model's denoised prediction for each conditioning list (zeros for None), areas and masks averaged."""
        from engine.sampling.guidance import GuidedDenoiser

        options = self.model_options if model_options is None else model_options
        denoiser = GuidedDenoiser(self.model_patcher, [], None, 1.0, self._start, self._mask, model_options=options)
        return denoiser.predictions(list(conds), x, sigma)

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor, model_options: dict[str, Any] | None = None,
                      seed: int | None = None) -> torch.Tensor:
        """The guided denoised prediction of ``x`` at sigma ``timestep`` (ComfyUI's name)."""
        return self.denoiser(model_options or None)(x, timestep)

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.predict_noise(*args, **kwargs)

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
               denoise_mask: torch.Tensor | None = None, callback: GuiderCallback | None = None,
               disable_pbar: bool = False, seed: int | None = None) -> torch.Tensor:
        """``sampler`` (a name or a sampler object) over ``sigmas`` from ``latent_image`` plus ``noise``; latents in
        VAE space in and out; ``callback`` as ComfyUI calls it."""
        from engine.sampling.ksampler import fit_empty_latent_channels, sample_sigmas

        if sigmas.shape[-1] == 0:
            return latent_image
        latent_format = self.model_patcher.latent_format
        self._start = latent_format.process_in(fit_empty_latent_channels(latent_image, latent_format.channels))
        self._mask = denoise_mask
        try:
            own = type(self).predict_noise is CFGGuider.predict_noise
            denoiser = self.denoiser() if own else _PredictNoise(self, seed)
            return sample_sigmas(self.model_patcher, noise, [], None, self.cfg, sampler, sigmas, latent_image,
                                 denoise_mask, _step_callback(callback), 0 if seed is None else seed,
                                 denoiser=denoiser)
        finally:
            self._start = self._mask = None


class _PredictNoise:
    """A guider's own ``predict_noise`` as the denoiser Atelier's samplers call (with ComfyUI's guider names)."""

    def __init__(self, guider: CFGGuider, seed: int | None) -> None:
        self.guider, self.seed = guider, seed
        self.model = self.model_patcher = guider.model_patcher
        self.inner_model = guider.inner_model
        self.model_options = guider.model_options

    def with_model_options(self, model_options: dict[str, Any]) -> _PredictNoise:
        """The guider's ``predict_noise`` called with other model options (ComfyUI's samplers pass their own)."""
        denoiser = _PredictNoise(self.guider, self.seed)
        denoiser.model_options = model_options
        return denoiser

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.guider.predict_noise(x, sigma, model_options=self.model_options, seed=self.seed)


def _step_callback(callback: GuiderCallback | None) -> Callable[[int, int, Any], None] | None:
    if callback is None:
        return None
    return lambda step, total, x0: callback(step, x0, None, total)


class BasicGuider(CFGGuider):
    """The positive conditioning alone, without guidance (ComfyUI's ``Guider_Basic``)."""

    def set_conds(self, positive: Conditioning) -> None:  # type: ignore[override]
        self.inner_set_conds({"positive": positive})


class DualCFGGuider(CFGGuider):
    """Two conditionings and a negative (ComfyUI's ``Guider_DualCFG``). Regular: ``cond2`` guided away from the
    negative by ``cfg2``, plus ``cfg1`` times (``cond1`` - ``cond2``). Nested: ``cond1`` guided away from ``cond2`` by
    ``cfg1`` first, and that away from the negative by ``cfg2``."""

    def set_cfg(self, cfg1: float, cfg2: float = 1.0, nested: bool = False) -> None:  # type: ignore[override]
        self.cfg1, self.cfg2, self.nested = cfg1, cfg2, nested

    def set_conds(self, positive: Conditioning, middle: Conditioning,  # type: ignore[override]
                  negative: Conditioning) -> None:
        middle = [[cond, {**options, "prompt_type": "negative"}] for cond, options in middle]
        self.inner_set_conds({"positive": positive, "middle": middle, "negative": negative})

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor, model_options: dict[str, Any] | None = None,
                      seed: int | None = None) -> torch.Tensor:
        from engine.sampling.cfg import combine

        options = self.model_options if model_options is None else model_options
        negative, middle, positive = (self.conds.get(name) for name in ("negative", "middle", "positive"))
        if self.nested:
            out = self.calc_cond_batch([negative, middle, positive], x, timestep, options)
            text = combine(self.inner_model, x, timestep, out[2], out[1], self.cfg1, options, (positive, middle))
            return out[0] + self.cfg2 * (text - out[0])
        if not options.get("disable_cfg1_optimization", False) and math.isclose(self.cfg2, 1.0):
            negative = None
            if math.isclose(self.cfg1, 1.0):
                middle = None
        out = self.calc_cond_batch([negative, middle, positive], x, timestep, options)
        guided = combine(self.inner_model, x, timestep, out[1], out[0], self.cfg2, options, (middle, negative))
        return guided + (out[2] - out[1]) * self.cfg1
