"""Schedules and sampler updates against diffusers' schedulers with the same SD1 noise schedule.

Trajectories run with the same analytic eps-model (the exact one for Gaussian data), so any difference is in
the schedule or the update rule. Tolerance: 1e-5 relative (float64 on our side; diffusers mostly float32).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.registry import sampler_function
from engine.sampling.schedulers import beta_ppf, get_sigmas

diffusers = pytest.importorskip("diffusers")

SD1 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
MU, S = 0.3, 0.8
TOL = 1e-5


def exact_x0(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    sigma = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x)
    return (S**2 * x + sigma**2 * MU) / (S**2 + sigma**2)


def eps_of(x_k: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return (x_k - exact_x0(x_k, sigma)) / sigma


def start(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(ours: torch.Tensor, theirs: torch.Tensor, tol: float = TOL) -> None:
    assert float((ours - theirs.to(ours)).abs().max() / theirs.abs().max()) < tol


@pytest.mark.parametrize(("scheduler", "options", "steps"), [
    ("karras", {"use_karras_sigmas": True}, 12),
    ("simple", {"timestep_spacing": "trailing"}, 10),
    ("normal", {"timestep_spacing": "linspace"}, 10),  # 999 / 9 is whole: the timesteps are integers
    ("exponential", {"use_exponential_sigmas": True}, 12),
])
def test_sigma_lists_match_euler_discrete(scheduler, options, steps):
    reference = diffusers.EulerDiscreteScheduler(**SD1, **options)
    reference.set_timesteps(steps)
    close(get_sigmas(ModelSamplingDiscrete(), scheduler, steps).double(), reference.sigmas.double(), 1e-4)


def test_ddim_uniform_matches_ddim_timesteps():
    reference = diffusers.DDIMScheduler(**SD1, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=True)
    reference.set_timesteps(10)
    alphas = reference.alphas_cumprod[reference.timesteps].double()
    expected = torch.cat([((1 - alphas) / alphas).sqrt(), torch.zeros(1, dtype=torch.float64)])
    close(get_sigmas(ModelSamplingDiscrete(), "ddim_uniform", 10).double(), expected)


def test_timestep_conversion_matches_the_training_table():
    ms = ModelSamplingDiscrete()
    reference = diffusers.EulerDiscreteScheduler(**SD1)
    table = ((1 - reference.alphas_cumprod) / reference.alphas_cumprod).sqrt()
    close(ms.sigmas.double(), table.double())
    assert torch.equal(ms.timestep(ms.sigmas[[0, 250, 999]]), torch.tensor([0, 250, 999]))


def test_beta_inverse_cdf_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for q in (0.01, 0.2, 0.5, 0.77, 0.99):
        assert abs(beta_ppf(q, 0.6, 0.6) - float(stats.beta.ppf(q, 0.6, 0.6))) < 1e-9


def k_space_trajectory(reference, x: torch.Tensor) -> torch.Tensor:
    """Run a diffusers scheduler that works on k-diffusion-scaled samples (Euler, Heun, LMS)."""
    sample = x.float() * reference.init_noise_sigma
    for t in reference.timesteps:
        model_input = reference.scale_model_input(sample, t)
        sigma = reference.sigmas[reference.step_index]
        eps = eps_of(model_input * (sigma**2 + 1) ** 0.5, sigma)
        sample = reference.step(eps, t, sample).prev_sample
    return sample


@pytest.mark.parametrize(("name", "scheduler_class"), [
    ("euler", "EulerDiscreteScheduler"), ("heun", "HeunDiscreteScheduler"), ("lms", "LMSDiscreteScheduler")])
def test_k_space_samplers_follow_diffusers(name, scheduler_class):
    reference = getattr(diffusers, scheduler_class)(**SD1, use_karras_sigmas=True)
    reference.set_timesteps(10)
    x = start()
    sigmas = reference.sigmas.double()
    if name == "heun":  # diffusers interleaves Heun's second evaluations into its list
        sigmas = torch.cat([sigmas[:1], sigmas[1:-1:2], sigmas[-1:]])
    ours = sampler_function(name)(exact_x0, x * sigmas[0], sigmas)
    close(ours, k_space_trajectory(reference, x), 1e-4)


def vp_trajectory(reference, x: torch.Tensor) -> torch.Tensor:
    """Run a diffusers scheduler that works on variance-preserving samples; returns k-diffusion scale."""
    sample = x.float()
    sigmas = reference.sigmas.double()
    for index, t in enumerate(reference.timesteps):
        alpha = 1 / (sigmas[index] ** 2 + 1) ** 0.5
        eps = eps_of(sample.double() / alpha, sigmas[index]).float()
        sample = reference.step(eps, t, sample).prev_sample
    return sample.double() * (sigmas[-1] ** 2 + 1) ** 0.5


@pytest.mark.parametrize("karras", [False, True])
def test_dpmpp_2m_follows_dpm_solver_multistep(karras):
    reference = diffusers.DPMSolverMultistepScheduler(**SD1, algorithm_type="dpmsolver++", solver_order=2,
                                                      use_karras_sigmas=karras, final_sigmas_type="zero")
    reference.set_timesteps(10)
    sigmas = reference.sigmas.double()
    x = start(1)
    ours = sampler_function("dpmpp_2m")(exact_x0, x * (sigmas[0] ** 2 + 1) ** 0.5, sigmas)
    close(ours, vp_trajectory(reference, x), 1e-4)


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_uni_pc_follows_unipc_multistep(variant):
    reference = diffusers.UniPCMultistepScheduler(**SD1, solver_order=3, solver_type=variant, predict_x0=True,
                                                  use_karras_sigmas=True, final_sigmas_type="zero")
    reference.set_timesteps(10)
    reference.sigmas[-1] = 0.001  # ComfyUI's UniPC stops at sigma 0.001 instead of 0
    sigmas = reference.sigmas.double()
    x = start(2)
    ours = sampler_function("uni_pc" if variant == "bh1" else "uni_pc_bh2")(
        exact_x0, x * (sigmas[0] ** 2 + 1) ** 0.5, sigmas)
    close(ours, vp_trajectory(reference, x), 1e-4)


def test_ddim_is_euler_on_the_ddim_schedule():
    reference = diffusers.DDIMScheduler(**SD1, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=True,
                                        clip_sample=False)
    reference.set_timesteps(10)
    sigmas = get_sigmas(ModelSamplingDiscrete(), "ddim_uniform", 10).double()
    x = start(3)
    sample = x.float()
    for index, t in enumerate(reference.timesteps):
        alpha = 1 / (sigmas[index] ** 2 + 1) ** 0.5
        eps = eps_of(sample.double() / alpha, sigmas[index]).float()
        sample = reference.step(eps, t, sample, eta=0.0).prev_sample
    ours = sampler_function("ddim")(exact_x0, x * (sigmas[0] ** 2 + 1) ** 0.5, sigmas)
    close(ours, sample.double(), 1e-4)
    assert np.isfinite(ours.numpy()).all()


def v_of(x_k: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact v target for a k-space sample: ``alpha * eps - sigma_vp * x0`` with VP scalings of ``sigma``."""
    sigma = sigma.reshape(-1, *([1] * (x_k.ndim - 1))).to(x_k)
    x0 = exact_x0(x_k, sigma)
    eps = (x_k - x0) / sigma
    return (eps - sigma * x0) / (sigma**2 + 1) ** 0.5


def test_v_prediction_denoising_follows_diffusers_euler():
    """SD2-768 and other v models: our v -> x0 conversion inside Euler matches diffusers' v-prediction Euler."""
    reference = diffusers.EulerDiscreteScheduler(**SD1, prediction_type="v_prediction")
    reference.set_timesteps(10)
    x = start(3)
    sample = x.float() * reference.init_noise_sigma
    for t in reference.timesteps:
        model_input = reference.scale_model_input(sample, t)  # sets the step index
        sigma = reference.sigmas[reference.step_index]
        sample = reference.step(v_of(model_input.double() * (sigma**2 + 1) ** 0.5, sigma).float(), t,
                                sample).prev_sample
    ms = ModelSamplingDiscrete("v_prediction")

    def denoiser(x_k: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return ms.calculate_denoised(sigma, v_of(x_k, sigma), x_k)

    sigmas = reference.sigmas.double()
    ours = sampler_function("euler")(denoiser, x * sigmas[0], sigmas)
    close(ours, sample, 1e-4)
    eps_model = ModelSamplingDiscrete("eps")
    wrong = sampler_function("euler")(lambda x_k, s: eps_model.calculate_denoised(s, v_of(x_k, s), x_k),
                                      x * sigmas[0], sigmas)
    assert float((wrong - sample.double()).abs().max() / sample.abs().max()) > 1e-2
