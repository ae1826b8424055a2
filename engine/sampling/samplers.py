"""Samplers in the style of k-diffusion: each a small function over a denoiser.

A denoiser maps ``(x, sigma[B])`` to the predicted clean image; ``sigmas`` is the descending schedule ending
in 0. ``callback(i, x, sigma, denoised)`` is called after each model evaluation of step ``i``, and
``noise(sigma, sigma_next)`` supplies standard normal noise for the stochastic samplers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None
Noise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _batch(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma * x.new_ones([x.shape[0]])


def _report(callback: Callback, i: int, x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> None:
    if callback is not None:
        callback(i, x, sigma, denoised)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The ODE's derivative dx/dsigma."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0) -> tuple:
    """(sigma_down, sigma_up): step deterministically to sigma_down, then add noise of sigma_up."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    return (sigma_to**2 - sigma_up**2) ** 0.5, sigma_up


def _t(sigma: torch.Tensor) -> torch.Tensor:
    return -sigma.log()


def _sigma(t: torch.Tensor) -> torch.Tensor:
    return t.neg().exp()


def euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
          noise: Noise | None = None, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = float("inf"),
          s_noise: float = 1.0) -> torch.Tensor:
    """Euler's method (Karras et al. 2022, Algorithm 2, with optional churn)."""
    for i in range(len(sigmas) - 1):
        gamma = min(s_churn / (len(sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.0
        sigma_hat = sigmas[i] * (gamma + 1)
        if gamma > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * (sigma_hat**2 - sigmas[i] ** 2) ** 0.5
        denoised = model(x, _batch(sigma_hat, x))
        _report(callback, i, x, sigmas[i], denoised)
        x = x + to_d(x, sigma_hat, denoised) * (sigmas[i + 1] - sigma_hat)
    return x


def euler_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                    noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
         noise: Noise | None = None) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 1)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, _batch(sigmas[i + 1], x)))
        x = x + (d + d_2) / 2 * dt
    return x


def heunpp2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
            noise: Noise | None = None) -> torch.Tensor:
    """Heun++ (sd-webui-samplers-scheduler, as ComfyUI has it): the derivatives at the next two sigmas too, weighted
    by sigma over three times the first sigma; Heun then Euler for the last two steps."""
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        d = to_d(x, sigmas[i], denoised)
        _report(callback, i, x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == s_end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, _batch(sigmas[i + 1], x)))
        if sigmas[i + 2] == s_end:
            w_2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w_2) + d_2 * w_2) * dt
            continue
        x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
        d_3 = to_d(x_3, sigmas[i + 2], model(x_3, _batch(sigmas[i + 2], x)))
        w_2, w_3 = sigmas[i + 1] / (3 * sigmas[0]), sigmas[i + 2] / (3 * sigmas[0])
        x = x + ((1 - w_2 - w_3) * d + w_2 * d_2 + w_3 * d_3) * dt
    return x


def dpm_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
          noise: Noise | None = None) -> torch.Tensor:
    """DPM-Solver-2 (midpoint in log sigma)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigmas[i])
            continue
        sigma_mid = sigmas[i].log().lerp(sigmas[i + 1].log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigmas[i])
        d_2 = to_d(x_2, sigma_mid, model(x_2, _batch(sigma_mid, x)))
        x = x + d_2 * (sigmas[i + 1] - sigmas[i])
    return x


def dpm_2_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                    noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            d_2 = to_d(x_2, sigma_mid, model(x_2, _batch(sigma_mid, x)))
            x = x + d_2 * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def lms_coefficient(order: int, sigmas: np.ndarray, i: int, j: int) -> float:
    """Integral over [sigma_i, sigma_i+1] of the Lagrange basis polynomial of point i - j (exact)."""
    basis = np.polynomial.Polynomial([1.0])
    for k in range(order):
        if k != j:
            basis *= np.polynomial.Polynomial([-sigmas[i - k], 1.0]) / (sigmas[i - j] - sigmas[i - k])
    integral = basis.integ()
    return float(integral(sigmas[i + 1]) - integral(sigmas[i]))


def lms(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
        noise: Noise | None = None, order: int = 4) -> torch.Tensor:
    """Linear multistep over the last ``order`` derivatives."""
    points = sigmas.double().cpu().numpy()
    derivatives: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        derivatives = (derivatives + [to_d(x, sigmas[i], denoised)])[-order:]
        current = min(i + 1, order)
        coefficients = [lms_coefficient(current, points, i, j) for j in range(current)]
        x = x + sum(c * d for c, d in zip(coefficients, reversed(derivatives), strict=True))
    return x


def dpmpp_2s_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                       noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(2S), ancestral."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, _batch(_sigma(s), x))
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def dpmpp_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
              noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5) -> torch.Tensor:
    """DPM-Solver++ (stochastic), two model evaluations per step."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        s = t + h * r
        sigma_down, sigma_up = ancestral_step(_sigma(t), _sigma(s), eta)
        s_ = _t(sigma_down)
        x_2 = (_sigma(s_) / _sigma(t)) * x - (t - s_).expm1() * denoised
        if noise is not None:
            x_2 = x_2 + noise(_sigma(t), _sigma(s)) * s_noise * sigma_up
        denoised_2 = model(x_2, _batch(_sigma(s), x))
        sigma_down, sigma_up = ancestral_step(_sigma(t), _sigma(t_next), eta)
        t_next_ = _t(sigma_down)
        mixed = (1 - 1 / (2 * r)) * denoised + 1 / (2 * r) * denoised_2
        x = (_sigma(t_next_) / _sigma(t)) * x - (t - t_next_).expm1() * mixed
        if noise is not None:
            x = x + noise(_sigma(t), _sigma(t_next)) * s_noise * sigma_up
    return x


def dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
             noise: Noise | None = None) -> torch.Tensor:
    """DPM-Solver++(2M): second order from the previous step's prediction."""
    previous = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            break
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        estimate = denoised
        if previous is not None:
            r = (t - _t(sigmas[i - 1])) / h
            estimate = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
        x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * estimate
        previous = denoised
    return x


def dpmpp_2m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                 noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0,
                 solver_type: str = "midpoint") -> torch.Tensor:
    """DPM-Solver++(2M) SDE; with eta = 0 and the midpoint solver it is exactly DPM-Solver++(2M)."""
    previous, h_last = None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            break
        h = _t(sigmas[i + 1]) - _t(sigmas[i])
        eta_h = eta * h
        x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
        if previous is not None:
            r = h_last / h
            if solver_type == "heun":
                x = x + ((-h - eta_h).expm1().neg() / (-h - eta_h) + 1) * (1 / r) * (denoised - previous)
            else:
                x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - previous)
        if eta and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
        previous, h_last = denoised, h
    return x


def dpmpp_3m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                 noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(3M) SDE."""
    denoised_1 = denoised_2 = None
    h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            break
        h = _t(sigmas[i + 1]) - _t(sigmas[i])
        h_eta = h * (eta + 1)
        x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
        phi_2 = h_eta.neg().expm1() / h_eta + 1
        if h_2 is not None:
            r0, r1 = h_1 / h, h_2 / h
            d1_0, d1_1 = (denoised - denoised_1) / r0, (denoised_1 - denoised_2) / r1
            d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
        elif h_1 is not None:
            x = x + phi_2 * (denoised - denoised_1) / (h_1 / h)
        if eta and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def lcm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
        noise: Noise | None = None) -> torch.Tensor:
    """Latent consistency sampling: jump to the prediction, re-noise to the next sigma."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
    return x


def ddpm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
         noise: Noise | None = None) -> torch.Tensor:
    """The original DDPM ancestral step, expressed over sigmas."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_prev = sigmas[i], sigmas[i + 1]
        denoised = model(x, _batch(sigma, x))
        _report(callback, i, x, sigma, denoised)
        eps = (x - denoised) / sigma
        alpha_cumprod, alpha_cumprod_prev = 1 / (sigma**2 + 1), 1 / (sigma_prev**2 + 1)
        alpha = alpha_cumprod / alpha_cumprod_prev
        scaled = x / (1.0 + sigma**2).sqrt()
        mu = (1.0 / alpha).sqrt() * (scaled - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
        if sigma_prev > 0:
            if noise is not None:
                variance = (1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)
                mu = mu + variance.sqrt() * noise(sigma, sigma_prev)
            mu = mu * (1.0 + sigma_prev**2).sqrt()
        x = mu
    return x


def ipndm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
          noise: Noise | None = None, max_order: int = 4) -> torch.Tensor:
    """Improved pseudo-numerical (Adams–Bashforth) steps of up to fourth order."""
    weights = {1: [1], 2: [3, -1], 3: [23, -16, 5], 4: [55, -59, 37, -9]}
    divisors = {1: 1, 2: 2, 3: 12, 4: 24}
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        d = (x - denoised) / sigmas[i]
        order = min(max_order, i + 1)
        ds = [d, *reversed(history)][:order]
        x = x + (sigmas[i + 1] - sigmas[i]) * sum(w * v for w, v in zip(weights[order], ds, strict=True)) \
            / divisors[order]
        history = (history + [d])[-(max_order - 1):]
    return x
