"""Multistep samplers of ComfyUI's list, with its math and defaults: iPNDM with variable steps, DEIS, RES multistep
(plain, ancestral, CFG++) and gradient estimation (plain, CFG++). Each reuses earlier steps' predictions, one model
evaluation per step."""

from __future__ import annotations

import math

import torch

from engine.sampling.cfg_pp import with_uncond
from engine.sampling.samplers import Callback, Denoiser, Noise, _batch, _report, _sigma, _t, ancestral_step, to_d


def _ipndm_v_weights(sigmas: torch.Tensor, i: int, order: int) -> list[torch.Tensor]:
    """Adams–Bashforth weights of the current and the ``order - 1`` previous derivatives for uneven steps."""
    h_n = sigmas[i + 1] - sigmas[i]
    if order == 1:
        return [torch.ones_like(h_n)]
    h_n_1 = sigmas[i] - sigmas[i - 1]
    if order == 2:
        return [(2 + h_n / h_n_1) / 2, -(h_n / h_n_1) / 2]
    h_n_2 = sigmas[i - 1] - sigmas[i - 2]
    temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
    if order == 3:
        return [(2 + h_n / h_n_1) / 2 + temp1, -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1,
                temp1 * h_n_1 / h_n_2]
    h_n_3 = sigmas[i - 2] - sigmas[i - 3]
    ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
    temp2 = ((1 - h_n / (3 * (h_n + h_n_1))) / 2
             + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2))) \
        * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)) / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
    return [(2 + h_n / h_n_1) / 2 + temp1 + temp2,
            -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + h_n_1 / h_n_2 + ratio) * temp2,
            temp1 * h_n_1 / h_n_2 + (h_n_1 / h_n_2 + ratio * (1 + h_n_2 / h_n_3)) * temp2,
            -temp2 * ratio * h_n_1 / h_n_2]


def ipndm_v(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
            noise: Noise | None = None, max_order: int = 4) -> torch.Tensor:
    """iPNDM with weights for variable step sizes (Zhou et al. 2024, diff-sampler)."""
    history: list[torch.Tensor] = []  # previous derivatives, newest last
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        d = (x - denoised) / sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            order = min(max_order, i + 1)
            weights = _ipndm_v_weights(sigmas, i, order)
            derivative = sum(w * v for w, v in zip(weights, [d, *reversed(history)], strict=True))
            x = x + (sigmas[i + 1] - sigmas[i]) * derivative
        history = (history + [d])[-(max_order - 1):]
    return x


# DEIS ("tab" mode) integrates in the time of a VP schedule fitted to EDM's sigma range, whatever the model's.
_EDM_SIGMA_MIN, _EDM_SIGMA_MAX, _EPSILON_S = 0.002, 80.0, 1e-3


def _vp_betas() -> tuple[float, float]:
    """(beta_0, beta_1) of the VP schedule whose sigma runs from EDM's sigma_min at t = epsilon_s to sigma_max at 1."""
    log_min, log_max = math.log(_EDM_SIGMA_MIN**2 + 1), math.log(_EDM_SIGMA_MAX**2 + 1)
    beta_d = 2 * (log_min / _EPSILON_S - log_max) / (_EPSILON_S - 1)
    beta_min = log_max - 0.5 * beta_d
    return beta_min, beta_d + beta_min


def _vp_time(sigmas: torch.Tensor, beta_0: float, beta_1: float) -> torch.Tensor:
    beta_d = beta_1 - beta_0
    return ((beta_0**2 + 2 * beta_d * (sigmas.double() ** 2 + 1).log()).sqrt() - beta_0) / beta_d


def deis_coefficients(sigmas: torch.Tensor, i: int, order: int, points: int = 10000) -> list[torch.Tensor]:
    """Weights of the current and previous eps predictions for step ``i``: the Lagrange basis polynomials through
    the last ``order`` times, integrated against dsigma/dt over the step (a Riemann sum of ``points`` points)."""
    beta_0, beta_1 = _vp_betas()
    times = _vp_time(sigmas, beta_0, beta_1)
    taus = torch.linspace(float(times[i]), float(times[i + 1]), points, dtype=torch.float64)
    dtau = (times[i + 1] - times[i]) / points
    alpha = torch.exp(-0.5 * taus**2 * (beta_1 - beta_0) - taus * beta_0)
    integrand = 0.5 * (taus * (beta_1 - beta_0) + beta_0) / torch.sqrt(alpha * (1 - alpha))  # dsigma/dt
    known = times[[i - k for k in range(order)]]
    weights = []
    for j in range(order):
        basis = torch.ones_like(taus)
        for k in range(order):
            if k != j:
                basis = basis * (taus - known[k]) / (known[j] - known[k])
        weights.append(torch.sum(integrand * basis) * dtau)
    return weights


def deis(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
         noise: Noise | None = None, max_order: int = 3) -> torch.Tensor:
    """DEIS, "tab" mode (Zhang & Chen 2023, diff-sampler's implementation): multistep exponential integrator."""
    history: list[torch.Tensor] = []  # previous eps predictions, newest last
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        d = (x - denoised) / sigmas[i]
        order = min(max_order, i + 1) if sigmas[i + 1] > 0 else 1
        if order == 1:
            x = x + (sigmas[i + 1] - sigmas[i]) * d
        else:
            weights = deis_coefficients(sigmas, i, order)
            x = x + sum(w.to(x) * v for w, v in zip(weights, [d, *reversed(history)], strict=True))
        history = (history + [d])[-(max_order - 1):]
    return x


def _phi_1(t: torch.Tensor) -> torch.Tensor:
    return torch.expm1(t) / t


def _phi_2(t: torch.Tensor) -> torch.Tensor:
    return (_phi_1(t) - 1.0) / t


def res_multistep(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                  noise: Noise | None = None, s_noise: float = 1.0, eta: float = 0.0,
                  cfg_pp: bool = False) -> torch.Tensor:
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157); ancestral for ``eta > 0``; ``cfg_pp``:
    renoise along the unconditional prediction (``engine.sampling.cfg_pp``)."""
    if cfg_pp:
        model, uncond = with_uncond(model)
    old_denoised = old_sigma_down = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        followed = uncond.latest if cfg_pp else denoised  # the prediction the step renoises along
        if sigma_down == 0 or old_denoised is None:  # Euler
            if cfg_pp:
                x = denoised + to_d(x, sigmas[i], followed) * sigma_down
            else:
                x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_old, t_next, t_prev = _t(sigmas[i]), _t(old_sigma_down), _t(sigma_down), _t(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            b1 = torch.nan_to_num(_phi_1(-h) - _phi_2(-h) / c2, nan=0.0)
            b2 = torch.nan_to_num(_phi_2(-h) / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - followed)
            x = _sigma(h) * x + h * (b1 * followed + b2 * old_denoised)
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised, old_sigma_down = followed, sigma_down
    return x


def res_multistep_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                         noise: Noise | None = None) -> torch.Tensor:
    return res_multistep(model, x, sigmas, callback, noise, eta=0.0, cfg_pp=True)


def res_multistep_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                            noise: Noise | None = None) -> torch.Tensor:
    return res_multistep(model, x, sigmas, callback, noise, eta=1.0)


def res_multistep_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                                   callback: Callback = None, noise: Noise | None = None) -> torch.Tensor:
    return res_multistep(model, x, sigmas, callback, noise, eta=1.0, cfg_pp=True)


def gradient_estimation(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                        noise: Noise | None = None, ge_gamma: float = 2.0, cfg_pp: bool = False) -> torch.Tensor:
    """Euler with the derivative extrapolated from the previous step's (Permenter & Yuan, "Interpreting and
    improving diffusion models from an optimization perspective")."""
    if cfg_pp:
        model, uncond = with_uncond(model)
    old_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        d = to_d(x, sigmas[i], uncond.latest if cfg_pp else denoised)
        _report(callback, i, x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = denoised + d * sigmas[i + 1] if cfg_pp else x + d * dt
            if old_d is not None:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


def gradient_estimation_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                               noise: Noise | None = None) -> torch.Tensor:
    return gradient_estimation(model, x, sigmas, callback, noise, cfg_pp=True)
