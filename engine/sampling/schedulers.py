"""Noise schedules: ``steps + 1`` descending sigmas ending in 0, under ComfyUI's scheduler names."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.names import SCHEDULER_NAMES


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022): evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, steps)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv + ramp * (min_inv - max_inv)) ** rho)


def exponential(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp())


def normal(ms: ModelSamplingDiscrete, steps: int, sgm: bool = False) -> torch.Tensor:
    """Evenly spaced timesteps from the first to the last training step."""
    start, end = ms.timestep(ms.sigma_max), ms.timestep(ms.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(float(start), float(end), steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=1e-5):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(float(start), float(end), steps)
    sigmas = torch.stack([ms.sigma(t) for t in timesteps])
    return _append_zero(sigmas) if append_zero else sigmas


def simple(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    """Every ``len(sigmas) / steps``-th training sigma, from the top."""
    stride = len(ms.sigmas) / steps
    return _append_zero(torch.stack([ms.sigmas[-(1 + int(i * stride))] for i in range(steps)]))


def ddim_uniform(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    """DDIM's uniform timestep spacing."""
    sigmas: list[float] = [] if math.isclose(float(ms.sigmas[1]), 0, abs_tol=1e-5) else [0.0]
    if not sigmas:
        steps += 1
    stride = max(len(ms.sigmas) // steps, 1)
    sigmas += [float(ms.sigmas[x]) for x in range(1, len(ms.sigmas), stride)]
    return torch.tensor(sigmas[::-1], dtype=torch.float32)


def beta(ms: ModelSamplingDiscrete, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Timesteps at quantiles of a Beta(0.6, 0.6) distribution (more steps at both ends)."""
    total = len(ms.sigmas) - 1
    sigmas: list[float] = []
    last = -1
    for i in range(steps):
        t = round(beta_ppf(1.0 - i / steps, alpha, beta_) * total)
        if t != last:
            sigmas.append(float(ms.sigmas[t]))
        last = t
    return torch.tensor(sigmas + [0.0], dtype=torch.float32)


def linear_quadratic(ms: ModelSamplingDiscrete, steps: int, threshold_noise: float = 0.025) -> torch.Tensor:
    """Linear, then quadratic in noise fraction (Mochi's schedule), scaled to the model's sigma_max."""
    if steps == 1:
        fractions = [1.0, 0.0]
    else:
        linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quad_coef = step_diff / (linear_steps * quadratic_steps**2)
        lin_coef = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps**2
        const = quad_coef * linear_steps**2
        quadratic = [quad_coef * i**2 + lin_coef * i + const for i in range(linear_steps, steps)]
        fractions = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.tensor(fractions, dtype=torch.float32) * float(ms.sigma_max)


def kl_optimal(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in arctan(sigma) (Align Your Steps' KL-optimal schedule)."""
    ramp = torch.arange(steps, dtype=torch.float32) / max(steps - 1, 1)
    sigmas = (ramp * math.atan(sigma_min) + (1 - ramp) * math.atan(sigma_max)).tan()
    return _append_zero(sigmas)


def sd_turbo(ms: ModelSamplingDiscrete, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """SDTurboScheduler: ``steps`` of SD-Turbo's ten distillation timesteps 999, 899, ..., 99, starting
    ``10 - int(10 * denoise)`` of them in (fewer where the ten run out), then 0."""
    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
    return _append_zero(ms.sigma(timesteps))


def get_sigmas(ms: ModelSamplingDiscrete, scheduler: str, steps: int) -> torch.Tensor:
    sigma_min, sigma_max = float(ms.sigma_min), float(ms.sigma_max)
    schedules: dict[str, Callable[[], torch.Tensor]] = {
        "simple": lambda: simple(ms, steps),
        "sgm_uniform": lambda: normal(ms, steps, sgm=True),
        "karras": lambda: karras(steps, sigma_min, sigma_max),
        "exponential": lambda: exponential(steps, sigma_min, sigma_max),
        "ddim_uniform": lambda: ddim_uniform(ms, steps),
        "beta": lambda: beta(ms, steps),
        "normal": lambda: normal(ms, steps),
        "linear_quadratic": lambda: linear_quadratic(ms, steps),
        "kl_optimal": lambda: kl_optimal(steps, sigma_min, sigma_max),
    }
    if scheduler not in schedules:
        raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULER_NAMES)}")
    return schedules[scheduler]().float()


# The Beta distribution's inverse CDF, without scipy: bisection on the regularised incomplete beta function.

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return result


def beta_cdf(x: float, a: float, b: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    low, high = 0.0, 1.0
    for _ in range(100):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2
