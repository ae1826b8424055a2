"""SA-Solver, the stochastic Adams solver (Xue et al. 2023, arXiv:2309.05019), with ComfyUI's math and defaults:
a predictor of order 3 and a corrector of order 4 over past data predictions, noise of strength ``tau`` between
20% and 80% of the model's schedule, and lower orders for the last steps. ``use_pece`` evaluates the model again on
each corrected state (``sa_solver_pece``). Written for Atelier's sigmas: half-log-SNR ``lambda = -log(sigma)``."""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.samplers import Callback, Denoiser, Noise, _batch, _report


def exponential_coefficients(s: torch.Tensor, t: torch.Tensor, order: int, tau: float) -> torch.Tensor:
    """(1 + tau^2) times the integrals from s to t of exp((1 + tau^2) x) x^p for p < ``order``, with
    exp((1 + tau^2) t) factored out (integration by parts, as one lower-triangular matrix)."""
    tau_mul = 1 + tau**2
    p = torch.arange(order, dtype=s.dtype, device=s.device)
    products = t**p - s**p * (-tau_mul * (t - s)).exp()
    depth = p.unsqueeze(1) - p.unsqueeze(0)
    log_factorial = (p + 1).lgamma()
    log_coefficients = log_factorial.unsqueeze(1) - log_factorial.unsqueeze(0)
    if tau > 0:
        log_coefficients = log_coefficients - depth * math.log(tau_mul)
    signs = torch.where(depth % 2 == 0, 1.0, -1.0)
    return (log_coefficients.exp() * signs).tril() @ products


def adams_coefficients(sigma_next: torch.Tensor, lambdas: torch.Tensor, lambda_s: torch.Tensor,
                       lambda_t: torch.Tensor, tau: float) -> torch.Tensor:
    """Weights b_i of the predictions at ``lambdas`` for a step from lambda_s to lambda_t (the paper's eqs. 15 and
    18): the Lagrange basis through ``lambdas`` integrated against the exponential kernel."""
    order = lambdas.shape[0]
    integrals = exponential_coefficients(lambda_s, lambda_t, order, tau)
    lagrange = torch.linalg.solve(torch.vander(lambdas, order, increasing=True).T, integrals)
    return sigma_next * lambda_t.exp() * lagrange


def tau_interval(model: Any, eta: float = 1.0) -> Any:
    """ComfyUI's default noise strength: ``eta`` for sigmas between 20% and 80% of the model's schedule, else 0
    (SD1's schedule for a denoiser that does not say which model it runs)."""
    patcher = getattr(getattr(model, "guider", model), "model_patcher", None)
    sampling = getattr(patcher, "model_sampling", None) or ModelSamplingDiscrete()
    start, end = sampling.percent_to_sigma(0.2), sampling.percent_to_sigma(0.8)
    return lambda sigma: eta if start >= float(sigma) >= end else 0.0


def _weighted(weights: torch.Tensor, predictions: list[torch.Tensor]) -> torch.Tensor:
    return sum(w.to(p) * p for w, p in zip(weights, predictions, strict=True))


def sa_solver(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
              noise: Noise | None = None, s_noise: float = 1.0, predictor_order: int = 3, corrector_order: int = 4,
              use_pece: bool = False, tau_func: Any = None) -> torch.Tensor:
    if len(sigmas) <= 1:
        return x
    tau_func = tau_interval(model) if tau_func is None else tau_func
    lambdas = sigmas.log().neg()
    lower_order_to_end = float(sigmas[-1]) == 0
    x_pred, h, tau, step_noise = x, 0.0, 0.0, 0.0
    predictions: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x_pred, _batch(sigmas[i], x))
        _report(callback, i, x_pred, sigmas[i], denoised)
        predictions = (predictions + [denoised])[-max(predictor_order, corrector_order):]
        p_order = min(predictor_order, len(predictions))
        c_order = 0 if i == 0 or (sigmas[i + 1] == 0 and not use_pece) else min(corrector_order, len(predictions))
        if lower_order_to_end:
            p_order, c_order = min(p_order, len(sigmas) - 2 - i), min(c_order, len(sigmas) - 1 - i)
        if c_order == 0:
            x = x_pred
        else:  # correct the last step with the prediction at its end
            b = adams_coefficients(sigmas[i], lambdas[i - c_order + 1:i + 1], lambdas[i - 1], lambdas[i], tau)
            x = sigmas[i] / sigmas[i - 1] * (-(tau**2) * h).exp() * x + _weighted(b, predictions[-c_order:])
            if tau > 0 and s_noise > 0:
                x = x + step_noise
            if use_pece:
                denoised = model(x, _batch(sigmas[i], x))
                predictions[-1] = denoised
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        tau = tau_func(sigmas[i + 1])
        b = adams_coefficients(sigmas[i + 1], lambdas[i - p_order + 1:i + 1], lambdas[i], lambdas[i + 1], tau)
        h = lambdas[i + 1] - lambdas[i]
        x_pred = sigmas[i + 1] / sigmas[i] * (-(tau**2) * h).exp() * x + _weighted(b, predictions[-p_order:])
        if tau > 0 and s_noise > 0 and noise is not None:
            step_noise = noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * tau**2 * h).expm1().neg().sqrt() \
                * s_noise
            x_pred = x_pred + step_noise
    return x


def sa_solver_pece(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                   noise: Noise | None = None) -> torch.Tensor:
    return sa_solver(model, x, sigmas, callback, noise, use_pece=True)
