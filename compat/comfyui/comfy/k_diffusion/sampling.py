"""ComfyUI's ``comfy.k_diffusion.sampling``: the sampler functions by k-diffusion's names (``sample_euler``, ...),
each a view of the engine sampler of that name (``engine.sampling.registry``), with k-diffusion's calling
convention: ``sample_x(model, x, sigmas, extra_args=None, callback=None, disable=None, **options)`` where
``model(x, sigma, **extra_args)`` is the denoiser and ``callback`` gets ``{"x", "i", "sigma", "sigma_hat",
"denoised"}``. Step noise comes from ``noise_sampler`` when given, else from ``extra_args["seed"]`` exactly as
Atelier's KSampler draws it (Brownian-tree noise for the SDE samplers), so a view run through SamplerCustom gives
what the sampler's name gives.

Also the schedules (``get_sigmas_karras``, ``get_sigmas_exponential``, ...), ``to_d``, ``get_ancestral_step``,
``default_noise_sampler`` and ``BrownianTreeNoiseSampler``. ``sample_dpm_fast``/``sample_dpm_adaptive`` keep
Atelier's signature over a schedule (k-diffusion's take sigma_min, sigma_max and n).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    from engine.sampling.samplers import to_d as engine_to_d

    return engine_to_d(x, append_dims(sigma, x.ndim), denoised)


def append_dims(x: torch.Tensor, target_dims: int) -> torch.Tensor:
    """``x`` with trailing singleton dimensions up to ``target_dims``."""
    return x[(...,) + (None,) * (target_dims - x.ndim)]


def get_ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0) -> tuple:
    from engine.sampling.samplers import ancestral_step

    return ancestral_step(sigma_from, sigma_to, eta)


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: Any = "cpu") -> Any:
    from engine.sampling.schedulers import karras

    return karras(n, sigma_min, sigma_max, rho).to(device)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device: Any = "cpu") -> Any:
    from engine.sampling.schedulers import exponential

    return exponential(n, sigma_min, sigma_max).to(device)


def default_noise_sampler(x: torch.Tensor, seed: int | None = None) -> Callable:
    """Fresh normal noise each step: seeded as Atelier's ancestral samplers are, or from the global generator."""
    from engine.sampling.noise import GaussianNoise

    if seed is None:
        return lambda sigma, sigma_next: torch.randn_like(x)
    return GaussianNoise(x, seed)


class BrownianTreeNoiseSampler:
    """Noise from one Brownian path over [sigma_min, sigma_max] (Atelier's tree: same statistics as torchsde's,
    not the same values)."""

    def __init__(self, x: torch.Tensor, sigma_min: float, sigma_max: float, seed: int | None = None,
                 transform: Callable = lambda v: v, cpu: bool = False) -> None:
        from engine.sampling.noise import BrownianTreeNoise

        low, high = float(transform(torch.as_tensor(sigma_min))), float(transform(torch.as_tensor(sigma_max)))
        self.tree = BrownianTreeNoise(x, low, high, 0 if seed is None else int(seed), on_device=not cpu)

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return self.tree(sigma, sigma_next)


class _ModelCall:
    """k-diffusion's ``model(x, sigma, **extra_args)`` as an engine denoiser. Other model options (CFG++'s post-CFG
    function) travel in ``extra_args["model_options"]``, as ComfyUI's samplers pass them."""

    def __init__(self, model: Callable, extra_args: dict) -> None:
        self.model, self.extra_args = model, extra_args

    @property
    def model_options(self) -> dict:
        return self.extra_args.get("model_options", {})

    def with_model_options(self, model_options: dict) -> _ModelCall:
        return _ModelCall(self.model, {**self.extra_args, "model_options": model_options})

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.model(x, sigma, **self.extra_args)


def view_of(name: str) -> Callable[..., torch.Tensor]:
    """The engine sampler ``name`` in k-diffusion's calling convention."""
    from engine.sampling.registry import DEVICE_NOISE_SAMPLERS, SDE_SAMPLERS, sampler_function

    engine_sampler = sampler_function(name)

    def sample(model: Callable, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
               callback: Callable | None = None, disable: bool | None = None, noise_sampler: Callable | None = None,
               **options: Any) -> torch.Tensor:
        extra_args = extra_args or {}
        seed = extra_args.get("seed")
        if noise_sampler is None and name in SDE_SAMPLERS:
            positive = sigmas[sigmas > 0]
            noise_sampler = BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), seed=seed,
                                                     cpu=name not in DEVICE_NOISE_SAMPLERS)
        noise = noise_sampler or default_noise_sampler(x, seed)
        denoiser = _ModelCall(model, extra_args)

        def report(i: int, x_: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> None:
            if callback is not None:
                callback({"x": x_, "i": i, "sigma": sigma, "sigma_hat": sigma, "denoised": denoised})

        return engine_sampler(denoiser, x, sigmas, callback=report, noise=noise, **options)

    sample.__name__ = f"sample_{name}"
    sample.__doc__ = f"k-diffusion's sample_{name}, a view of Atelier's {name!r} sampler."
    return sample


def __getattr__(name: str) -> Any:
    """``sample_<name>`` for every sampler Atelier implements."""
    from engine.sampling.names import SAMPLER_NAMES

    if name.startswith("sample_") and name[len("sample_"):] in SAMPLER_NAMES:
        return view_of(name[len("sample_"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (Atelier implements the samplers "
                         f"{', '.join('sample_' + n for n in SAMPLER_NAMES)})")
