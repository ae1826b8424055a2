"""Stochastic exponential-integrator samplers of ComfyUI's list, with its math and defaults: ER-SDE-Solver-3 and
SEEDS-2/3. Written for Atelier's (variance-exploding) sigmas, where ComfyUI's half-log-SNR is ``-log(sigma)`` and
its alpha is 1; their step noise is plain Gaussian noise, as ComfyUI's default noise sampler draws it."""

from __future__ import annotations

import torch

from engine.sampling.samplers import Callback, Denoiser, Noise, _batch, _report

ER_SDE_POINTS = 200  # ComfyUI's numerical-integration points per step


def er_sde_noise_scaler(x: torch.Tensor) -> torch.Tensor:
    """ER-SDE's default noise scale function (ComfyUI's ``default_er_sde_noise_scaler``)."""
    return x * ((x**0.3).exp() + 10.0)


def _er_sde_integrals(sigma: torch.Tensor, sigma_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Riemann sums over [sigma_next, sigma] of 1 / scaler and (lambda - sigma) / scaler, as ComfyUI takes them."""
    step = (sigma - sigma_next) / ER_SDE_POINTS
    positions = sigma_next + torch.arange(ER_SDE_POINTS, dtype=torch.float32, device=sigma.device) * step
    scaled = er_sde_noise_scaler(positions)
    return torch.sum(1 / scaled) * step, torch.sum((positions - sigma) / scaled) * step


def er_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
           noise: Noise | None = None, s_noise: float = 1.0, max_stage: int = 3) -> torch.Tensor:
    """Extended reverse-time SDE solver, VP ER-SDE-Solver-3 (Cui et al. 2023, arXiv:2309.06169)."""
    old_denoised = old_denoised_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if sigma_next == 0:
            x = denoised
            old_denoised = denoised
            continue
        stage = min(max_stage, i + 1)
        r = er_sde_noise_scaler(sigma_next) / er_sde_noise_scaler(sigma)
        x = r * x + (1 - r) * denoised
        if stage >= 2:
            dt = sigma_next - sigma
            s, s_u = _er_sde_integrals(sigma, sigma_next)
            denoised_d = (denoised - old_denoised) / (sigma - sigmas[i - 1])
            x = x + (dt + s * er_sde_noise_scaler(sigma_next)) * denoised_d
            if stage >= 3:
                denoised_u = (denoised_d - old_denoised_d) / ((sigma - sigmas[i - 2]) / 2)
                x = x + (dt**2 / 2 + s_u * er_sde_noise_scaler(sigma_next)) * denoised_u
            old_denoised_d = denoised_d
        if s_noise > 0 and noise is not None:
            x = x + noise(sigma, sigma_next) * s_noise * (sigma_next**2 - sigma**2 * r**2).sqrt().nan_to_num(nan=0.0)
        old_denoised = denoised
    return x


def _phi_1(h: torch.Tensor) -> torch.Tensor:
    """h * phi_1(h) of exponential integrators."""
    return torch.expm1(h)


def _phi_2(h: torch.Tensor) -> torch.Tensor:
    """h * phi_2(h) of exponential integrators."""
    return (torch.expm1(h) - h) / h


class _SegmentNoise:
    """SEEDS' noise along one step: the Brownian part carried from stage to stage, decayed and topped up."""

    def __init__(self, noise: Noise | None, eta: float, s_noise: float) -> None:
        self.noise, self.eta, self.s_noise = noise, eta, s_noise
        self.active = noise is not None and eta > 0 and s_noise > 0
        self.value: torch.Tensor | float = 0.0

    def first(self, sigma: torch.Tensor, sigma_s: torch.Tensor, r_h: torch.Tensor) -> torch.Tensor | float:
        """Noise to add at the first stage point ``sigma_s``, ``r_h`` into the step in half-log-SNR."""
        if not self.active:
            return 0.0
        self.value = (-2 * r_h * self.eta).expm1().neg().sqrt() * self.noise(sigma, sigma_s)
        return self.value * sigma_s * self.s_noise

    def next(self, sigma_from: torch.Tensor, sigma_to: torch.Tensor, segment: torch.Tensor) -> torch.Tensor | float:
        """Noise to add at ``sigma_to``, ``segment`` (negative) further along than ``sigma_from``."""
        if not self.active:
            return 0.0
        factor = segment * self.eta
        self.value = self.value * factor.exp() + factor.mul(2).expm1().neg().sqrt() * self.noise(sigma_from, sigma_to)
        return self.value * sigma_to * self.s_noise


def seeds_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
            noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5) -> torch.Tensor:
    """SEEDS-2, stochastic explicit exponential derivative-free solver (Gonzalez et al. 2023, arXiv:2305.14267)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if sigma_next == 0:
            x = denoised
            continue
        h = sigma.log() - sigma_next.log()
        h_eta = h * (eta + 1)
        sigma_1 = (sigma.log() - r * h).exp()
        segment = _SegmentNoise(noise, eta, s_noise)
        x_2 = sigma_1 / sigma * (-r * h * eta).exp() * x - _phi_1(-r * h_eta) * denoised
        x_2 = x_2 + segment.first(sigma, sigma_1, r * h)
        denoised_2 = model(x_2, _batch(sigma_1, x))
        mixed = torch.lerp(denoised, denoised_2, 1 / (2 * r))
        x = sigma_next / sigma * (-h * eta).exp() * x - _phi_1(-h_eta) * mixed
        x = x + segment.next(sigma_1, sigma_next, (r - 1) * h)
    return x


def seeds_3(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
            noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0, r_1: float = 1 / 3,
            r_2: float = 2 / 3) -> torch.Tensor:
    """SEEDS-3 (three model evaluations per step)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if sigma_next == 0:
            x = denoised
            continue
        h = sigma.log() - sigma_next.log()
        h_eta = h * (eta + 1)
        sigma_1, sigma_2 = (sigma.log() - r_1 * h).exp(), (sigma.log() - r_2 * h).exp()
        segment = _SegmentNoise(noise, eta, s_noise)
        x_2 = sigma_1 / sigma * (-r_1 * h * eta).exp() * x - _phi_1(-r_1 * h_eta) * denoised
        x_2 = x_2 + segment.first(sigma, sigma_1, r_1 * h)
        denoised_2 = model(x_2, _batch(sigma_1, x))
        a3_2 = r_2 / r_1 * _phi_2(-r_2 * h_eta)
        a3_1 = _phi_1(-r_2 * h_eta) - a3_2
        x_3 = sigma_2 / sigma * (-r_2 * h * eta).exp() * x - (a3_1 * denoised + a3_2 * denoised_2)
        x_3 = x_3 + segment.next(sigma_1, sigma_2, (r_1 - r_2) * h)
        denoised_3 = model(x_3, _batch(sigma_2, x))
        b3 = _phi_2(-h_eta) / r_2
        b1 = _phi_1(-h_eta) - b3
        x = sigma_next / sigma * (-h * eta).exp() * x - (b1 * denoised + b3 * denoised_3)
        x = x + segment.next(sigma_2, sigma_next, (r_2 - 1) * h)
    return x
