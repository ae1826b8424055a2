"""Model samplings and schedules behind ModelSamplingDiscrete's lcm, ModelSamplingContinuousEDM and SDTurboScheduler,
against diffusers where it implements the same math (LCMScheduler, EulerDiscreteScheduler) and hand-checked small
cases elsewhere; block-wise merging's choice of ratio per weight."""

from __future__ import annotations

import math

import pytest
import torch

from engine.sampling.model_sampling import (
    ModelSamplingContinuousEDM,
    ModelSamplingDiscrete,
    ModelSamplingLCM,
    lcm_scalings,
)
from engine.sampling.schedulers import get_sigmas, sd_turbo

diffusers = pytest.importorskip("diffusers")
SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def vp_sigma(alphas_cumprod: torch.Tensor, timestep: int) -> float:
    return float(((1 - alphas_cumprod[timestep]) / alphas_cumprod[timestep]) ** 0.5)


def test_lcm_keeps_diffusers_fifty_distilled_timesteps():
    ms = ModelSamplingLCM()
    reference = diffusers.LCMScheduler(**SD_BETAS, original_inference_steps=50)
    reference.set_timesteps(50)
    assert len(ms.sigmas) == 50
    assert ms.timestep(ms.sigmas).tolist() == sorted(reference.timesteps.tolist())  # 19, 39, ..., 999
    for t in (19, 499, 999):
        assert math.isclose(float(ms.sigma(torch.tensor(t))), vp_sigma(reference.alphas_cumprod, t), rel_tol=1e-5)


def test_lcm_boundary_conditions_are_diffusers():
    reference = diffusers.LCMScheduler(**SD_BETAS)
    for t in (19, 259, 999):
        c_skip, c_out = lcm_scalings(torch.tensor(float(t)))
        expected = reference.get_scalings_for_boundary_condition_discrete(t)
        assert math.isclose(float(c_skip), expected[0], rel_tol=1e-6)
        assert math.isclose(float(c_out), expected[1], rel_tol=1e-6)


def test_lcm_denoised_follows_diffusers_step():
    """diffusers works on the variance-preserving sample, k-diffusion samplers on ``sample * sqrt(1 + sigma²)``:
    the denoised latents agree up to ``c_skip`` times that difference (below 1e-5 here, as ComfyUI's)."""
    ms = ModelSamplingLCM()
    reference = diffusers.LCMScheduler(**SD_BETAS)
    reference.set_timesteps(4)
    gen = torch.Generator().manual_seed(0)
    for t in reference.timesteps.tolist():
        sample, eps = torch.randn(1, 4, 8, 8, generator=gen), torch.randn(1, 4, 8, 8, generator=gen)
        sigma = torch.tensor([vp_sigma(reference.alphas_cumprod, t)])
        reference._step_index = list(reference.timesteps).index(t)
        expected = reference.step(eps, t, sample, generator=torch.Generator().manual_seed(1)).denoised
        got = ms.calculate_denoised(sigma, eps, sample * (1 + sigma**2) ** 0.5)
        assert int(ms.timestep(sigma)) == t
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_sd_turbo_schedule_is_turbo_timesteps_sigmas():
    ms = ModelSamplingDiscrete()
    reference = diffusers.EulerDiscreteScheduler(**SD_BETAS, timestep_spacing="trailing")
    reference.set_timesteps(1)  # SD-Turbo's one-step schedule: timestep 999
    torch.testing.assert_close(sd_turbo(ms, 1, 1.0), reference.sigmas.float(), rtol=1e-5, atol=0)
    for steps, denoise, timesteps in ((4, 1.0, [999, 899, 799, 699]), (2, 0.5, [499, 399]), (3, 0.2, [199, 99])):
        expected = [vp_sigma(reference.alphas_cumprod, t) for t in timesteps] + [0.0]
        torch.testing.assert_close(sd_turbo(ms, steps, denoise), torch.tensor(expected), rtol=1e-5, atol=0)
    assert sd_turbo(ms, 1, 0.0).tolist() == [0.0]


def test_continuous_edm_schedule_and_timesteps():
    ms = ModelSamplingContinuousEDM("v_prediction", sigma_min=0.002, sigma_max=120.0)
    assert math.isclose(float(ms.sigma_min), 0.002, rel_tol=1e-5)
    assert math.isclose(float(ms.sigma_max), 120.0, rel_tol=1e-5)
    sigma = torch.tensor([math.e**2])
    assert torch.allclose(ms.timestep(sigma), torch.tensor([0.5]))
    assert torch.allclose(ms.sigma(torch.tensor([0.5])), sigma)
    assert math.isclose(ms.percent_to_sigma(0.5), math.sqrt(0.002 * 120.0), rel_tol=1e-5)  # geometric middle
    assert ms.percent_to_sigma(0.0) > 1e8 and ms.percent_to_sigma(1.0) == 0.0
    karras = get_sigmas(ms, "karras", 4)
    assert math.isclose(float(karras[0]), 120.0, rel_tol=1e-5) and float(karras[-1]) == 0.0


@pytest.mark.parametrize(("prediction", "sigma_data", "expected"), [
    # x = 2, model output = 1, sigma = 3 (hand-computed)
    ("eps", 1.0, 2 - 3),
    ("v_prediction", 1.0, 2 * 1 / 10 - 3 * 1 / math.sqrt(10)),
    ("edm", 0.5, 2 * 0.25 / 9.25 + 3 * 0.5 / math.sqrt(9.25)),
])
def test_continuous_edm_predictions(prediction, sigma_data, expected):
    ms = ModelSamplingContinuousEDM(prediction, sigma_data=sigma_data)
    sigma, x = torch.tensor([3.0]), torch.full((1, 1, 1, 1), 2.0)
    assert math.isclose(float(ms.calculate_denoised(sigma, torch.ones_like(x), x)), expected, rel_tol=1e-6)
    assert math.isclose(float(ms.calculate_input(sigma, x)), 2 / math.sqrt(9 + sigma_data**2), rel_tol=1e-6)


def test_x0_and_img_to_img_predictions():
    sigma, x, out = torch.tensor([3.0]), torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), 0.5)
    for prediction in ("x0", "img_to_img"):
        assert float(ModelSamplingDiscrete(prediction).calculate_denoised(sigma, out, x)) == 0.5
    assert float(ModelSamplingDiscrete("img_to_img").calculate_input(sigma, x)) == 2.0
    assert math.isclose(float(ModelSamplingDiscrete("x0").calculate_input(sigma, x)), 2 / math.sqrt(10), rel_tol=1e-6)
    with pytest.raises(ValueError, match="unknown prediction"):
        ModelSamplingDiscrete("edm")
    with pytest.raises(ValueError, match="unknown prediction"):
        ModelSamplingContinuousEDM("cosmos_rflow")


def test_merging_by_blocks_takes_the_longest_matching_prefix():
    from engine.merge import merge_models_by_blocks

    class Weights:  # a MODEL as merging sees it
        def __init__(self, value: float) -> None:
            keys = ["time_embed.0.weight", "input_blocks.1.0.weight", "input_blocks.10.0.weight",
                    "middle_block.0.weight", "output_blocks.2.weight", "out.2.weight"]
            self.weights = {key: torch.full((1,), value) for key in keys}
            self.patches: dict = {}
            self.unet = self

        def state_dict(self) -> dict:
            return self.weights

        patched_state_dict = state_dict

        def clone(self) -> Weights:
            return self

        def add_patch(self, key: str, patch) -> None:
            self.patches[key] = float(patch(self.weights[key]))

    merged = merge_models_by_blocks(Weights(1.0), Weights(0.0), [("input", 0.3), ("input_blocks.1", 0.6),
                                                                  ("middle", 0.5), ("out", 0.9)])
    assert merged.patches == pytest.approx({
        "time_embed.0.weight": 0.3, "input_blocks.1.0.weight": 0.6, "input_blocks.10.0.weight": 0.6,
        "middle_block.0.weight": 0.5, "output_blocks.2.weight": 0.9, "out.2.weight": 0.9})
