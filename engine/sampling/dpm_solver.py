"""DPM-Solver (Lu et al. 2022) in k-diffusion's form: ``dpm_fast`` (fixed orders for a budget of model
evaluations) and ``dpm_adaptive`` (embedded error estimate with a PID step-size controller)."""

from __future__ import annotations

import math

import torch

from engine.sampling.samplers import Callback, Denoiser, Noise, ancestral_step


class _Solver:
    def __init__(self, model: Denoiser, callback: Callback) -> None:
        self.model = model
        self.callback = callback
        self.steps = 0

    @staticmethod
    def t(sigma: torch.Tensor) -> torch.Tensor:
        return -sigma.log()

    @staticmethod
    def sigma(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    def eps(self, cache: dict[str, torch.Tensor], key: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key not in cache:
            denoised = self.model(x, self.sigma(t) * x.new_ones([x.shape[0]]))
            if key == "eps" and self.callback is not None:
                self.callback(self.steps, x, self.sigma(t), denoised)
            cache[key] = (x - denoised) / self.sigma(t)
        return cache[key]

    def step_1(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict) -> torch.Tensor:
        h = t_next - t
        return x - self.sigma(t_next) * h.expm1() * self.eps(cache, "eps", x, t)

    def step_2(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict,
               r1: float = 0.5) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)

    def step_3(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict,
               r1: float = 1 / 3, r2: float = 2 / 3) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (x - self.sigma(s2) * (r2 * h).expm1() * eps
              - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps))
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)

    def step(self, order: int, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict) -> torch.Tensor:
        return {1: self.step_1, 2: self.step_2, 3: self.step_3}[order](x, t, t_next, cache)


def _end_sigmas(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_min, sigma_max) to integrate between: DPM-Solver cannot reach sigma 0 itself."""
    sigma_min = sigmas[-1] if sigmas[-1] > 0 else sigmas[-2]
    return sigma_min, sigmas[0]


def dpm_fast(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
             noise: Noise | None = None, eta: float = 0.0, s_noise: float = 1.0) -> torch.Tensor:
    """``len(sigmas) - 1`` model evaluations spent on third-order steps, evenly spaced in log sigma."""
    if len(sigmas) <= 1:
        return x
    solver = _Solver(model, callback)
    nfe = len(sigmas) - 1
    sigma_min, sigma_max = _end_sigmas(sigmas)
    t_start, t_end = solver.t(sigma_max), solver.t(sigma_min)
    m = math.floor(nfe / 3) + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        solver.steps = i
        t, t_next = ts[i], ts[i + 1]
        sigma_up = torch.zeros(())
        t_next_ = t_next
        if eta:
            sigma_down, _ = ancestral_step(solver.sigma(t), solver.sigma(t_next), eta)
            t_next_ = torch.minimum(t_end, solver.t(sigma_down))
            sigma_up = (solver.sigma(t_next) ** 2 - solver.sigma(t_next_) ** 2) ** 0.5
        x = solver.step(order, x, t, t_next_, {})
        if eta and noise is not None:
            x = x + sigma_up * s_noise * noise(solver.sigma(t), solver.sigma(t_next))
    return x


class _PIDController:
    """Step-size control from the last three error estimates (Söderlind's PID controller)."""

    def __init__(self, h: float, order: float, pcoeff: float = 0.0, icoeff: float = 1.0, dcoeff: float = 0.0,
                 accept_safety: float = 0.81) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.errors: list[float] = []

    def propose(self, error: float) -> bool:
        inverse = 1 / (error + 1e-8)
        if not self.errors:
            self.errors = [inverse] * 3
        self.errors[0] = inverse
        factor = self.errors[0] ** self.b1 * self.errors[1] ** self.b2 * self.errors[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errors[2], self.errors[1] = self.errors[1], self.errors[0]
        self.h *= factor
        return accept


def dpm_adaptive(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                 noise: Noise | None = None, order: int = 3, rtol: float = 0.05, atol: float = 0.0078,
                 h_init: float = 0.05, eta: float = 0.0, s_noise: float = 1.0) -> torch.Tensor:
    """Adaptive step sizes from the difference of an order-``order`` and a lower-order step."""
    if len(sigmas) <= 1:
        return x
    solver = _Solver(model, callback)
    sigma_min, sigma_max = _end_sigmas(sigmas)
    s, t_end = solver.t(sigma_max), solver.t(sigma_min)
    controller = _PIDController(h_init, 1.5 if eta else order)
    x_previous = x
    while s < t_end - 1e-5:
        t = torch.minimum(t_end, s + controller.h)
        t_, sigma_up = t, torch.zeros(())
        if eta:
            sigma_down, _ = ancestral_step(solver.sigma(s), solver.sigma(t), eta)
            t_ = torch.minimum(t_end, solver.t(sigma_down))
            sigma_up = (solver.sigma(t) ** 2 - solver.sigma(t_) ** 2) ** 0.5
        cache: dict[str, torch.Tensor] = {}
        if order == 2:
            x_low, x_high = solver.step_1(x, s, t_, cache), solver.step_2(x, s, t_, cache)
        else:
            x_low, x_high = solver.step_2(x, s, t_, cache, r1=1 / 3), solver.step_3(x, s, t_, cache)
        delta = torch.maximum(torch.tensor(atol), rtol * torch.maximum(x_low.abs(), x_previous.abs()))
        error = float(torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5)
        if controller.propose(error):
            x_previous = x_low
            x = x_high
            if eta and noise is not None:
                x = x + sigma_up * s_noise * noise(solver.sigma(s), solver.sigma(t))
            s = t
            solver.steps += 1
    return x
