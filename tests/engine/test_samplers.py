"""Every sampler on a Gaussian data distribution, where the exact denoiser is known in closed form: sampling
from the noisy marginal must give back the data's mean and standard deviation."""

from __future__ import annotations

import pytest
import torch

from engine.sampling import SAMPLER_NAMES
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.noise import BrownianTreeNoise, GaussianNoise, prepare_noise
from engine.sampling.registry import SDE_SAMPLERS, sampler_function
from engine.sampling.schedulers import get_sigmas

MU, S = 0.7, 0.5
COUNT = 4000


def exact_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return (S**2 * x + sigma**2 * MU) / (S**2 + sigma**2)


def consistency_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE's end point from (x, sigma): what a perfect consistency model returns."""
    sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return MU + (x - MU) * S / (S**2 + sigma**2) ** 0.5


# First-order stochastic samplers converge slowly in variance (std 9% low at 40 steps, 1% at 300).
STEPS = {"euler_ancestral": 300, "euler_ancestral_cfg_pp": 300, "ddpm": 300}
# ComfyUI's dpmpp_2s_ancestral_cfg_pp shifts each final update by the first prediction minus the unconditional
# prediction of the midpoint evaluation (the latest one its post-CFG function saw): an O(h) term per step that does
# not vanish (std 17% low at 40 steps, 20% at 300). Atelier keeps ComfyUI's math; tests/engine/
# test_comfyui_samplers.py checks that step by hand instead.
NOT_CONSISTENT = {"dpmpp_2s_ancestral_cfg_pp"}


@pytest.mark.parametrize("name", [name for name in SAMPLER_NAMES if name not in NOT_CONSISTENT])
def test_reproduces_the_data_distribution(name: str) -> None:
    sigmas = get_sigmas(ModelSamplingDiscrete(), "karras", STEPS.get(name, 40)).double()
    generator = torch.Generator().manual_seed(0)
    x = MU + (S**2 + sigmas[0] ** 2) ** 0.5 * torch.randn(COUNT, 1, generator=generator, dtype=torch.float64)
    noise = (BrownianTreeNoise(x, float(sigmas[-2]), float(sigmas[0]), seed=1) if name in SDE_SAMPLERS
             else GaussianNoise(x, seed=1))
    # LCM is only correct for consistency models: it jumps to the ODE end point and re-noises.
    denoiser = consistency_denoiser if name == "lcm" else exact_denoiser
    out = sampler_function(name)(denoiser, x, sigmas, noise=noise)
    # Sampling noise over 4,000 draws is ~1% of S; discretisation adds a little more.
    assert abs(float(out.mean()) - MU) < 0.03, name
    assert abs(float(out.std()) / S - 1) < 0.05, name


def test_deterministic_samplers_are_deterministic_and_ancestral_ones_follow_the_seed() -> None:
    sigmas = get_sigmas(ModelSamplingDiscrete(), "normal", 8).double()
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * sigmas[0]
    euler = sampler_function("euler")
    torch.testing.assert_close(euler(exact_denoiser, x, sigmas), euler(exact_denoiser, x, sigmas))
    ancestral = sampler_function("euler_ancestral")
    a = ancestral(exact_denoiser, x, sigmas, noise=GaussianNoise(x, 5))
    b = ancestral(exact_denoiser, x, sigmas, noise=GaussianNoise(x, 5))
    c = ancestral(exact_denoiser, x, sigmas, noise=GaussianNoise(x, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_brownian_noise_depends_on_the_interval_not_the_query_order() -> None:
    like = torch.zeros(2, 3)
    tree = BrownianTreeNoise(like, 0.03, 14.6, seed=9)
    first = tree(torch.tensor(5.0), torch.tensor(2.0))
    again = BrownianTreeNoise(like, 0.03, 14.6, seed=9)
    again(torch.tensor(14.0), torch.tensor(9.0))  # other queries first
    torch.testing.assert_close(again(torch.tensor(5.0), torch.tensor(2.0)), first)
    # Increments over adjacent intervals add up to the increment over their union.
    whole = tree.value(5.0) - tree.value(1.0)
    torch.testing.assert_close(whole, (tree.value(5.0) - tree.value(3.0)) + (tree.value(3.0) - tree.value(1.0)))
    samples = torch.stack([BrownianTreeNoise(torch.zeros(500), 0.03, 14.6, seed=s)(torch.tensor(4.0),
                                                                                   torch.tensor(3.0))
                           for s in range(4)])
    assert abs(float(samples.std()) - 1) < 0.1 and abs(float(samples.mean())) < 0.1


def test_prepare_noise_is_comfyuis_cpu_noise() -> None:
    latent = torch.zeros(3, 4, 8, 8)
    expected = torch.randn(latent.shape, generator=torch.Generator().manual_seed(1234))
    assert torch.equal(prepare_noise(latent, 1234), expected)
    picked = prepare_noise(latent[:2], 1234, batch_index=[2, 0])
    assert torch.equal(picked[0], expected[2]) and torch.equal(picked[1], expected[0])


def test_dpmpp_2m_sde_without_noise_is_dpmpp_2m() -> None:
    sigmas = get_sigmas(ModelSamplingDiscrete(), "karras", 12).double()
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * sigmas[0]
    plain = sampler_function("dpmpp_2m")(exact_denoiser, x, sigmas)
    sde = sampler_function("dpmpp_2m_sde")(exact_denoiser, x, sigmas, noise=None, eta=0.0)
    torch.testing.assert_close(plain, sde)


def test_zero_terminal_snr_keeps_the_first_step_and_ends_at_comfyuis_last_alpha():
    from engine.sampling.model_sampling import ZSNR_LAST_ALPHA_BAR

    plain, rescaled = ModelSamplingDiscrete(), ModelSamplingDiscrete("v_prediction", zsnr=True)
    torch.testing.assert_close(rescaled.sigmas[0], plain.sigmas[0], rtol=1e-5, atol=0)
    expected_last = ((1 - ZSNR_LAST_ALPHA_BAR) / ZSNR_LAST_ALPHA_BAR) ** 0.5  # 4518.9...
    torch.testing.assert_close(rescaled.sigma_max, torch.tensor(expected_last), rtol=1e-5, atol=0)
    assert bool((rescaled.sigmas[1:] > rescaled.sigmas[:-1]).all())
