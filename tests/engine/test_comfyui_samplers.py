"""The samplers of ComfyUI's list beyond k-diffusion's classics (CFG++, heunpp2, ipndm_v, deis, res_multistep,
gradient_estimation, er_sde, seeds, sa_solver, the ``_gpu`` variants).

No public package implements them with ComfyUI's math, so single steps are checked against ComfyUI's formulas
written out here, CFG++ at CFG 1 against its base sampler, and every name runs one KSampler on the shipped digits
checkpoint. (During development every one matched ComfyUI's own ``comfy/k_diffusion/sampling.py`` on a toy guided
denoiser with identical noise: 2e-15 relative in float64, DEIS 2e-7 from ComfyUI's float32 coefficients.)
"""

from __future__ import annotations

import pytest
import torch

from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.multistep import deis_coefficients
from engine.sampling.noise import BrownianTreeNoise, GaussianNoise
from engine.sampling.registry import sampler_function
from engine.sampling.schedulers import get_sigmas
from engine.sampling.stochastic import er_sde_noise_scaler
from tests.conftest import ROOT

S = 0.5


def gaussian_x0(mu: float):
    """The exact denoiser of Gaussian data N(mu, S^2)."""

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        return (S**2 * x + sigma**2 * mu) / (S**2 + sigma**2)

    return denoise


class Guided:
    """A guided toy denoiser with model options, as ``engine.sampling.guidance.GuidedDenoiser`` answers them."""

    def __init__(self, cfg: float, cond_mu: float = 0.7, uncond_mu: float = -0.2, model_options: dict | None = None):
        self.cfg, self.cond, self.uncond = cfg, gaussian_x0(cond_mu), gaussian_x0(uncond_mu)
        self.model_options = model_options or {}

    def with_model_options(self, model_options: dict) -> Guided:
        guided = Guided(self.cfg, model_options=model_options)
        guided.cond, guided.uncond = self.cond, self.uncond
        return guided

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cond, uncond = self.cond(x, sigma), self.uncond(x, sigma)
        guided = uncond + self.cfg * (cond - uncond)
        for post in self.model_options.get("sampler_post_cfg_function", []):
            guided = post({"denoised": guided, "uncond_denoised": uncond, "cond_denoised": cond})
        return guided


def start(sigma: torch.Tensor) -> torch.Tensor:
    return torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * sigma


SIGMAS = torch.tensor([14.6, 4.0, 1.2, 0.3, 0.0], dtype=torch.float64)
TOL = {"rtol": 1e-12, "atol": 1e-12}


def test_euler_cfg_pp_denoises_with_the_guided_and_renoises_with_the_unconditional_prediction():
    model, x, sigmas = Guided(cfg=4.0), start(SIGMAS[0]), SIGMAS[:2]
    sigma = sigmas[:1]
    expected = model(x, sigma) + (x - model.uncond(x, sigma)) / sigma * sigmas[1]
    torch.testing.assert_close(sampler_function("euler_cfg_pp")(model, x, sigmas), expected, **TOL)


def test_dpmpp_2s_ancestral_cfg_pp_keeps_comfyuis_final_shift():
    """ComfyUI shifts the final update by the first prediction minus the *midpoint's* unconditional prediction."""
    model, x, sigmas = Guided(cfg=3.0), start(SIGMAS[0]), SIGMAS[:2]
    sigma_down = sigmas[1]  # eta 0: no ancestral noise
    t, t_next = -sigmas[0].log(), -sigma_down.log()
    h = t_next - t
    s = t + h / 2
    denoised = model(x, sigmas[:1])
    x_2 = (s.neg().exp() / sigmas[0]) * (x + denoised - model.uncond(x, sigmas[:1])) - (-h / 2).expm1() * denoised
    midpoint = s.neg().exp().reshape(1)
    denoised_2 = model(x_2, midpoint)
    expected = (sigma_down / sigmas[0]) * (x + denoised - model.uncond(x_2, midpoint)) - (-h).expm1() * denoised_2
    from engine.sampling.cfg_pp import dpmpp_2s_ancestral_cfg_pp

    torch.testing.assert_close(dpmpp_2s_ancestral_cfg_pp(model, x, sigmas, eta=0.0), expected, **TOL)


@pytest.mark.parametrize(("name", "base"), [
    ("euler_cfg_pp", "euler"), ("euler_ancestral_cfg_pp", "euler_ancestral"), ("dpmpp_2m_cfg_pp", "dpmpp_2m"),
    ("res_multistep_cfg_pp", "res_multistep"), ("res_multistep_ancestral_cfg_pp", "res_multistep_ancestral"),
    ("gradient_estimation_cfg_pp", "gradient_estimation")])
def test_cfg_pp_at_cfg_1_with_equal_predictions_is_its_base_sampler(name, base):
    model = Guided(cfg=1.0, cond_mu=0.4, uncond_mu=0.4)
    sigmas = get_sigmas(ModelSamplingDiscrete(), "karras", 8).double()
    x = start(sigmas[0])
    ours = sampler_function(name)(model, x, sigmas, noise=GaussianNoise(x, 3))
    torch.testing.assert_close(ours, sampler_function(base)(model, x, sigmas, noise=GaussianNoise(x, 3)),
                               rtol=1e-10, atol=1e-10)


def test_cfg_pp_sees_the_unconditional_prediction_at_cfg_1():
    """CFG's shortcut at scale 1 is disabled for CFG++, so the unconditional prediction exists and is used."""
    model, x, sigmas = Guided(cfg=1.0), start(SIGMAS[0]), SIGMAS[:2]
    expected = model.cond(x, sigmas[:1]) + (x - model.uncond(x, sigmas[:1])) / sigmas[0] * sigmas[1]
    torch.testing.assert_close(sampler_function("euler_cfg_pp")(model, x, sigmas), expected, **TOL)


def test_res_multistep_second_step_is_comfyuis_formula():
    model, sigmas = gaussian_x0(0.3), SIGMAS[:3]
    x = start(sigmas[0])
    first = x + (x - model(x, sigmas[:1])) / sigmas[0] * (sigmas[1] - sigmas[0])  # Euler
    denoised_0, denoised_1 = model(x, sigmas[:1]), model(first, sigmas[1:2])
    t, t_next, t_prev = -sigmas[1].log(), -sigmas[2].log(), -sigmas[0].log()
    h = t_next - t
    c2 = (t_prev - t) / h  # eta 0: the previous sigma_down is this step's sigma
    phi_1 = torch.expm1(-h) / -h
    phi_2 = (phi_1 - 1) / -h
    expected = (-h).exp() * first + h * ((phi_1 - phi_2 / c2) * denoised_1 + phi_2 / c2 * denoised_0)
    torch.testing.assert_close(sampler_function("res_multistep")(model, x, sigmas), expected, **TOL)


def test_er_sde_first_step_is_comfyuis_formula():
    model, sigmas = gaussian_x0(0.3), SIGMAS[:2]
    x = start(sigmas[0])
    r = er_sde_noise_scaler(sigmas[1]) / er_sde_noise_scaler(sigmas[0])
    noise = GaussianNoise(x, 5)
    expected = r * x + (1 - r) * model(x, sigmas[:1]) + noise(sigmas[0], sigmas[1]) * (sigmas[1]**2 - sigmas[0]**2
                                                                                        * r**2).sqrt()
    torch.testing.assert_close(sampler_function("er_sde")(model, x, sigmas, noise=GaussianNoise(x, 5)), expected,
                               **TOL)


def test_ipndm_v_on_even_steps_is_ipndm_up_to_third_order():
    """(ComfyUI's fourth-order ipndm_v weights, taken verbatim, are not Adams–Bashforth's on even steps.)"""
    sigmas = torch.linspace(10.0, 0.5, 9, dtype=torch.float64)  # ipndm_v jumps to the prediction at sigma 0
    model, x = gaussian_x0(0.3), start(sigmas[0])
    ipndm_v, ipndm = sampler_function("ipndm_v"), sampler_function("ipndm")
    torch.testing.assert_close(ipndm_v(model, x, sigmas, max_order=3), ipndm(model, x, sigmas, max_order=3),
                               rtol=1e-10, atol=1e-10)


def test_deis_weights_integrate_dsigma_over_the_step():
    """The Lagrange weights sum to the integral of dsigma/dt: sigma_next - sigma (Riemann sum of 10,000 points)."""
    sigmas = get_sigmas(ModelSamplingDiscrete(), "karras", 10).double()
    for i, order in [(1, 2), (4, 3)]:
        weights = deis_coefficients(sigmas, i, order)
        assert abs(float(sum(weights)) - float(sigmas[i + 1] - sigmas[i])) < 2e-3 * float(sigmas[i] - sigmas[i + 1])


ODE_OPTIONS = {"seeds_2": {"eta": 0.0}, "seeds_3": {"eta": 0.0}, "sa_solver": {"tau_func": lambda sigma: 0.0},
               "sa_solver_pece": {"tau_func": lambda sigma: 0.0}}


@pytest.mark.parametrize("name", ["deis", "ipndm_v", "res_multistep", "sa_solver", "sa_solver_pece", "seeds_2",
                                  "seeds_3"])
def test_ode_modes_follow_the_exact_probability_flow(name):
    """In their ODE modes these solvers land near the probability-flow ODE's exact end point (20 karras steps).
    The others (heunpp2, gradient_estimation, er_sde, the ancestral ones) are checked on the data distribution in
    tests/engine/test_samplers.py."""
    mu, sigmas = 0.3, get_sigmas(ModelSamplingDiscrete(), "karras", 20).double()
    x = start(sigmas[0])
    exact = mu + (x - mu) * S / (S**2 + sigmas[0] ** 2) ** 0.5
    options = ODE_OPTIONS.get(name, {})
    if name == "sa_solver_pece":
        name, options = "sa_solver", {**options, "use_pece": True}
    out = sampler_function(name)(gaussian_x0(mu), x, sigmas, **options)
    assert float((out - exact).abs().max()) < 0.02 * float(exact.abs().max()), name


def test_device_brownian_noise_on_the_cpu_is_the_cpu_noise():
    like = torch.zeros(2, 3)
    cpu, device = (BrownianTreeNoise(like, 0.03, 14.6, seed=9, on_device=flag) for flag in (False, True))
    assert torch.equal(cpu(torch.tensor(5.0), torch.tensor(2.0)), device(torch.tensor(5.0), torch.tensor(2.0)))


# One KSampler per name on the shipped digits checkpoint.
DIGITS = ROOT / "models" / "checkpoints" / "atelier-digits.safetensors"
needs_digits = pytest.mark.skipif(not DIGITS.is_file(), reason="the digits checkpoint is not in models/")


@pytest.fixture(scope="module")
def digits():
    from engine.device import Devices
    from engine.sd.checkpoint import read_checkpoint

    # float32: bf16 would make a batch of two predictions differ from a batch of one by ~1e-2
    model, clip, _ = read_checkpoint(DIGITS, Devices(cpu_only=True, cpu_bf16=False))
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("a handwritten digit 7"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    return model, positive, negative


def ksampler(digits, name: str, cfg: float = 4.0, negative=None, noise_mask=None) -> torch.Tensor:
    from engine.sampling.ksampler import sample_latent

    model, positive, default_negative = digits
    latent = {"samples": torch.zeros(1, 4, 4, 4)}
    if noise_mask is not None:
        latent["noise_mask"] = noise_mask
    out = sample_latent(model, 7, 4, cfg, name, "karras", positive,
                        default_negative if negative is None else negative, latent)
    return out["samples"]


ADDED_FOR_COMFYUI_0_3_64 = [
    "euler_cfg_pp", "euler_ancestral_cfg_pp", "heunpp2", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde_gpu",
    "dpmpp_2m_cfg_pp", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde_gpu", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
    "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3", "sa_solver",
    "sa_solver_pece"]


@needs_digits
@pytest.mark.parametrize("name", ADDED_FOR_COMFYUI_0_3_64)
def test_every_sampler_runs_a_ksampler_on_the_digits_checkpoint(digits, name):
    samples = ksampler(digits, name)
    assert samples.shape == (1, 4, 4, 4) and bool(torch.isfinite(samples).all()), name


@needs_digits
@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"])
def test_gpu_variants_on_the_cpu_are_their_base_sampler(digits, name):
    assert torch.equal(ksampler(digits, name + "_gpu"), ksampler(digits, name))


@needs_digits
def test_cfg_pp_through_the_guidance_at_cfg_1_is_its_base_when_negative_is_positive(digits):
    """The post-CFG capture runs through Atelier's guidance (and its inpainting step): with the negative equal to the
    positive, the unconditional prediction is the guided one and CFG++ is its base sampler."""
    positive = digits[1]
    mask = torch.zeros(1, 4, 4)
    mask[:, :, 2:] = 1.0
    for noise_mask in (None, mask):
        torch.testing.assert_close(ksampler(digits, "euler_cfg_pp", 1.0, positive, noise_mask),
                                   ksampler(digits, "euler", 1.0, positive, noise_mask), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(ksampler(digits, "euler_cfg_pp", 4.0), ksampler(digits, "euler", 4.0), atol=1e-3)


@needs_digits
@pytest.mark.parametrize("name", ["euler_cfg_pp", "dpmpp_2m_sde_gpu"])
def test_comfyuis_ksampler_view_samples_as_the_name(digits, name):
    """``comfy.samplers.ksampler(name)`` (a KSAMPLER over the k-diffusion view, which passes CFG++'s post-CFG
    function in ``extra_args["model_options"]`` as ComfyUI does) draws what the name draws."""
    from compat.host import install_path
    from engine.sampling.ksampler import sample_sigmas, schedule

    install_path()
    import comfy.samplers

    model, positive, negative = digits
    sigmas = schedule(model.model_sampling, "karras", name, 4)
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    latent = torch.zeros(1, 4, 4, 4)
    by_name = sample_sigmas(model, noise, positive, negative, 4.0, name, sigmas, latent, seed=7)
    by_view = sample_sigmas(model, noise, positive, negative, 4.0, comfy.samplers.ksampler(name), sigmas, latent,
                            seed=7)
    torch.testing.assert_close(by_view, by_name, rtol=1e-5, atol=1e-5)
