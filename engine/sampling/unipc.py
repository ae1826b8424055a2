"""UniPC (Zhao et al. 2023), multistep predictor-corrector with data prediction, variants bh1 and bh2.

Written over k-diffusion sigmas: with lambda = -log(sigma) the data-prediction updates take the same form as
in the paper's VP notation once x is divided by alpha. As ComfyUI does, a final sigma of 0 is replaced by
0.001 (the method divides by it) and the last step uses no corrector.
"""

from __future__ import annotations

import torch

from engine.sampling.samplers import Callback, Denoiser, Noise


def _coefficients(rks: list[float], hh: torch.Tensor, variant: str, order: int) -> tuple[torch.Tensor, ...]:
    """The linear system (R, b) whose solutions weight the differences of past predictions, and B(h)."""
    h_phi_1 = torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    ratios = torch.tensor(rks, dtype=torch.float64)
    rows, rhs = [], []
    factorial = 1
    for i in range(1, order + 1):
        rows.append(ratios ** (i - 1))
        rhs.append(float(h_phi_k * factorial / b_h))
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return torch.stack(rows), torch.tensor(rhs, dtype=torch.float64), h_phi_1, b_h


def _differences(history: list[torch.Tensor], lambdas: list[torch.Tensor], lambda_s0: torch.Tensor,
                 h: torch.Tensor, order: int) -> tuple[list[float], list[torch.Tensor]]:
    """Ratios r_k and scaled differences (m_k - m_0) / r_k of the ``order - 1`` previous predictions."""
    m0 = history[-1]
    rks, d1s = [], []
    for i in range(1, order):
        rk = float((lambdas[-(i + 1)] - lambda_s0) / h)
        rks.append(rk)
        d1s.append((history[-(i + 1)] - m0) / rk)
    return rks + [1.0], d1s


def _weighted(weights: torch.Tensor, d1s: list[torch.Tensor]) -> torch.Tensor | float:
    if not d1s:
        return 0.0
    return sum(float(w) * d for w, d in zip(weights, d1s, strict=True))


def predictor(x: torch.Tensor, history: list[torch.Tensor], lambdas: list[torch.Tensor], sigma_s0: torch.Tensor,
              sigma_t: torch.Tensor, order: int, variant: str) -> torch.Tensor:
    lambda_s0, lambda_t = lambdas[-1], -sigma_t.log()
    h = lambda_t - lambda_s0
    rks, d1s = _differences(history, lambdas, lambda_s0, h, order)
    rows, rhs, h_phi_1, b_h = _coefficients(rks, -h, variant, order)
    if not d1s:
        rhos = torch.zeros(0)
    elif order == 2:
        rhos = torch.tensor([0.5], dtype=torch.float64)
    else:
        rhos = torch.linalg.solve(rows[:-1, :-1], rhs[:-1])
    return sigma_t / sigma_s0 * x - h_phi_1 * history[-1] - b_h * _weighted(rhos, d1s)


def corrector(x_previous: torch.Tensor, model_t: torch.Tensor, history: list[torch.Tensor],
              lambdas: list[torch.Tensor], sigma_s0: torch.Tensor, sigma_t: torch.Tensor, order: int,
              variant: str) -> torch.Tensor:
    lambda_s0, lambda_t = lambdas[-1], -sigma_t.log()
    h = lambda_t - lambda_s0
    rks, d1s = _differences(history, lambdas, lambda_s0, h, order)
    rows, rhs, h_phi_1, b_h = _coefficients(rks, -h, variant, order)
    rhos = torch.tensor([0.5], dtype=torch.float64) if order == 1 else torch.linalg.solve(rows, rhs)
    correction = _weighted(rhos[:-1], d1s) + float(rhos[-1]) * (model_t - history[-1])
    return sigma_t / sigma_s0 * x_previous - h_phi_1 * history[-1] - b_h * correction


def uni_pc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
           noise: Noise | None = None, variant: str = "bh1", max_order: int = 3) -> torch.Tensor:
    sigmas = sigmas.clone()
    if sigmas[-1] == 0:
        sigmas[-1] = 0.001
    steps = len(sigmas) - 1
    order = min(max_order, steps)
    history: list[torch.Tensor] = []
    lambdas: list[torch.Tensor] = []
    x_previous, previous_order = None, 0
    for i in range(steps):
        sigma = sigmas[i]
        denoised = model(x, sigma * x.new_ones([x.shape[0]]))
        if callback is not None:
            callback(i, x, sigma, denoised)
        if x_previous is not None:  # correct the last step with the prediction made at its end point
            x = corrector(x_previous, denoised, history, lambdas, sigmas[i - 1], sigma, previous_order, variant)
        history = (history + [denoised])[-order:]
        lambdas = (lambdas + [-sigma.log()])[-order:]
        previous_order = min(order, len(history), steps - i)
        x_previous = x
        x = predictor(x, history, lambdas, sigma, sigmas[i + 1], previous_order, variant)
    return x


def uni_pc_bh2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
               noise: Noise | None = None) -> torch.Tensor:
    return uni_pc(model, x, sigmas, callback, noise, variant="bh2")
