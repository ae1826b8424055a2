"""ComfyUI's sampling modules (comfy.samplers, comfy.sample, comfy.sampler_helpers, comfy.k_diffusion.sampling,
comfy.lora, latent_preview) as views of Atelier's sampler: each gives exactly what Atelier's own engine gives."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from compat import COMFYUI_MODULES
from compat.host import install_path
from core.context import ExecutionContext, enter_context, leave_context
from engine.sampling import ksampler
from engine.sampling.guidance import GuidedDenoiser
from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from engine.sampling.schedulers import get_sigmas
from tests.compat.conftest import needs_digits
from tests.conftest import ROOT

pytestmark = needs_digits
# ``model`` and ``conds`` (tests/compat/conftest.py): the shipped digits model and two random conditionings.
install_path()
LATENT = torch.zeros(1, 4, 4, 4)


def noise() -> torch.Tensor:
    return torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))


def engine_custom(model, conds, sampler_name: str, sigmas: torch.Tensor, seed: int = 5) -> torch.Tensor:
    return ksampler.sample_sigmas(model, noise(), conds[0], conds[1], 4.0, sampler_name, sigmas, LATENT, seed=seed)


def test_the_modules_import_without_torch():
    modules = ["comfy.samplers", "comfy.sample", "comfy.sampler_helpers", "comfy.model_patcher", "comfy.lora",
               "comfy.patcher_extension", "comfy.model_base", "comfy.latent_formats", "latent_preview"]
    code = (f"import sys; sys.path.insert(0, {str(COMFYUI_MODULES)!r}); import {', '.join(modules)}; "
            "from comfy.samplers import KSampler; assert KSampler.SAMPLERS and KSampler.SCHEDULERS; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_ksampler_lists_are_atelier_names():
    import comfy.samplers

    assert comfy.samplers.KSampler.SAMPLERS == SAMPLER_NAMES == comfy.samplers.SAMPLER_NAMES
    assert comfy.samplers.KSampler.SCHEDULERS == SCHEDULER_NAMES == comfy.samplers.SCHEDULER_NAMES


@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde"])
def test_sampler_object_runs_as_atelier_sampler_of_that_name(model, conds, name):
    import comfy.samplers

    sigmas = get_sigmas(model.model_sampling, "karras", 3)
    by_object = engine_custom(model, conds, comfy.samplers.sampler_object(name), sigmas)
    assert torch.equal(by_object, engine_custom(model, conds, name, sigmas))


def test_a_pack_ksampler_with_its_own_function_plugs_into_atelier_sampling(model, conds):
    import comfy.samplers
    from comfy.k_diffusion.sampling import to_d

    calls = []

    def sample_my_euler(model_fn, x, sigmas, extra_args=None, callback=None, disable=None, scale=1.0):
        extra_args = extra_args or {}
        calls.append(sorted(extra_args))
        s_in = x.new_ones([x.shape[0]])
        for i in range(len(sigmas) - 1):
            denoised = model_fn(x, sigmas[i] * s_in, **extra_args)
            if callback is not None:
                callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
            x = x + to_d(x, sigmas[i] * s_in, denoised) * (sigmas[i + 1] - sigmas[i]) * scale
        return x

    sigmas = get_sigmas(model.model_sampling, "normal", 3)
    mine = comfy.samplers.KSAMPLER(sample_my_euler, extra_options={"scale": 1.0})
    torch.testing.assert_close(engine_custom(model, conds, mine, sigmas), engine_custom(model, conds, "euler", sigmas),
                               rtol=1e-5, atol=1e-5)
    assert calls[0] == ["model_options", "seed"]


def test_cfg_guider_samples_as_atelier_and_honours_a_subclass_predict_noise(model, conds):
    import comfy.samplers

    sigmas = get_sigmas(model.model_sampling, "normal", 3)
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(conds[0], conds[1])
    guider.set_cfg(4.0)
    steps = []
    got = guider.sample(noise(), LATENT, "euler", sigmas, callback=lambda i, x0, x, total: steps.append((i, total)),
                        seed=5)
    assert torch.equal(got, engine_custom(model, conds, "euler", sigmas))
    assert steps == [(0, 3), (1, 3), (2, 3)]
    assert torch.equal(guider.sample(noise(), LATENT, comfy.samplers.sampler_object("euler"), sigmas, seed=5), got)

    class PositiveOnly(comfy.samplers.CFGGuider):
        def predict_noise(self, x, timestep, model_options=None, seed=None):
            return comfy.samplers.calc_cond_batch(self.model_patcher, [self.conds["positive"]], x, timestep,
                                                  model_options)[0]

    positive_only = PositiveOnly(model)
    positive_only.set_conds(conds[0], conds[1])
    positive_only.set_cfg(4.0)
    expected = ksampler.sample_sigmas(model, noise(), conds[0], conds[1], 1.0, "euler", sigmas, LATENT, seed=5)
    torch.testing.assert_close(positive_only.sample(noise(), LATENT, "euler", sigmas, seed=5), expected,
                               rtol=1e-5, atol=1e-5)


def test_comfy_sample_and_ksampler_give_atelier_ksampler_latents(model, conds):
    import comfy.sample
    import comfy.samplers

    reference = ksampler.sample(model, noise(), conds[0], conds[1], 4.0, "euler", "karras", 3, LATENT, seed=1)
    seen = []
    got = comfy.sample.sample(model, noise(), 3, 4.0, "euler", "karras", conds[0], conds[1], LATENT, seed=1,
                              callback=lambda step, x0, x, total: seen.append((step, tuple(x0.shape), total)))
    assert torch.equal(got, reference) and seen[-1] == (2, (1, 4, 4, 4), 3)
    sampler = comfy.samplers.KSampler(model, steps=3, device="cpu", sampler="euler", scheduler="karras")
    assert torch.equal(sampler.sigmas, comfy.samplers.calculate_sigmas(model.model_sampling, "karras", 3))
    assert torch.equal(sampler.sample(noise(), conds[0], conds[1], 4.0, latent_image=LATENT, seed=1), reference)
    explicit = comfy.sample.sample(model, noise(), 3, 4.0, "euler", "karras", conds[0], conds[1], LATENT, seed=1,
                                   sigmas=sampler.sigmas)
    assert torch.equal(explicit, reference)
    assert torch.equal(comfy.sample.prepare_noise(LATENT, 9), torch.randn(LATENT.shape,
                                                                         generator=torch.manual_seed(9)))
    custom = comfy.sample.sample_custom(model, noise(), 4.0, "euler", sampler.sigmas, conds[0], conds[1], LATENT,
                                        seed=1)
    assert torch.equal(custom, reference)


def test_guidance_functions_are_atelier_guidance(model, conds):
    import comfy.samplers

    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(11)) * 3
    sigma = torch.tensor([3.0])
    expected = GuidedDenoiser(model, conds[0], conds[1], 4.0)(x, sigma)
    got = comfy.samplers.sampling_function(model, x, sigma, conds[1], conds[0], 4.0, model.model_options)
    assert torch.equal(got, expected)
    cond, uncond = comfy.samplers.calc_cond_batch(model, [conds[0], conds[1]], x, sigma, model.model_options)
    assert torch.equal(comfy.samplers.cfg_function(model, cond, uncond, 4.0, x, sigma), expected)


def test_k_diffusion_views(model, conds):
    from comfy.k_diffusion import sampling

    from engine.sampling import samplers, schedulers

    assert torch.equal(sampling.get_sigmas_karras(4, 0.1, 10.0), schedulers.karras(4, 0.1, 10.0))
    denoiser = GuidedDenoiser(model, conds[0], conds[1], 4.0)
    sigmas = get_sigmas(model.model_sampling, "normal", 2)
    x = noise() * sigmas[0]
    got = sampling.sample_euler(lambda x_, s, **extra: denoiser(x_, s), x, sigmas, extra_args={"seed": 1})
    assert torch.equal(got, samplers.euler(denoiser, x, sigmas))
    assert callable(sampling.sample_dpmpp_2m) and not hasattr(sampling, "sample_not_a_sampler")


def test_lora_key_maps_and_previews(model):
    import comfy.lora
    import latent_preview

    unet_names = comfy.lora.model_lora_keys_unet(model)
    assert unet_names["lora_unet_out_2"] == "diffusion_model.out.2.weight"
    assert all(value.startswith("diffusion_model.") for value in unet_names.values())
    weight = torch.ones(2, 2)
    assert torch.equal(comfy.lora.calculate_weight([(0.5, (weight,), 1.0, None, None)], weight, "k"), weight * 1.5)

    reports = []
    context = ExecutionContext("p", "1", None, None, None,  # type: ignore[arg-type]
                               on_progress=lambda value, total, preview: reports.append((value, total, preview)))
    token = enter_context(context)
    try:
        x0_out: dict = {}
        callback = latent_preview.prepare_callback(model, 3, x0_out)
        x0 = torch.randn(1, 4, 4, 4)
        callback(0, x0, None, 3)
    finally:
        leave_context(token)
    assert reports[0][:2] == (1, 3) and reports[0][2].size == (4, 4) and x0_out["x0"] is x0
    previewer = latent_preview.get_previewer("cpu", model.model.latent_format)
    assert isinstance(previewer, latent_preview.Latent2RGBPreviewer)


def test_a_pack_sampler_reaches_the_guider_and_model_as_comfyui_samplers_do(model, conds):
    """Samplers copied from ComfyUI's k_diffusion read the schedule through ``model.inner_model`` (the guider):
    ``.inner_model.model_sampling`` and ``.model_patcher.get_model_object(...)``, with and without a mask."""
    import comfy.model_base
    import comfy.samplers

    seen = []

    def sample_reading_the_guider(model_fn, x, sigmas, extra_args=None, callback=None, disable=None):
        guider = model_fn.inner_model
        assert isinstance(guider.inner_model, comfy.model_base.BaseModel)
        seen.append((guider.inner_model.model_sampling, guider.model_patcher.get_model_object("model_sampling")))
        return comfy.samplers.ksampler("euler").sampler_function(model_fn, x, sigmas, extra_args, callback, disable)

    sigmas = get_sigmas(model.model_sampling, "normal", 3)
    mine = comfy.samplers.KSAMPLER(sample_reading_the_guider)
    assert torch.equal(engine_custom(model, conds, mine, sigmas), engine_custom(model, conds, "euler", sigmas))
    mask = torch.ones(1, 4, 4)
    mask[:, :2] = 0
    masked = [ksampler.sample_sigmas(model, noise(), conds[0], conds[1], 4.0, sampler, sigmas, LATENT, mask, seed=5)
              for sampler in (mine, "euler")]
    assert torch.equal(masked[0], masked[1])
    assert seen == [(model.model_sampling, model.model_sampling)] * 2


def test_a_guider_subclass_uses_inner_model_as_comfyui_guiders_do(model, conds):
    import comfy.samplers

    class TwoScales(comfy.samplers.CFGGuider):  # written like ComfyUI's DualCFGGuider
        def predict_noise(self, x, timestep, model_options=None, seed=None):
            negative, positive = self.conds.get("negative"), self.conds.get("positive")
            cond, uncond = comfy.samplers.calc_cond_batch(self.inner_model, [positive, negative], x, timestep,
                                                          model_options)
            return comfy.samplers.cfg_function(self.inner_model, cond, uncond, self.cfg, x, timestep,
                                               model_options=model_options, cond=positive, uncond=negative)

    sigmas = get_sigmas(model.model_sampling, "normal", 3)
    guider = TwoScales(model)
    guider.set_conds(conds[0], conds[1])
    guider.set_cfg(4.0)
    torch.testing.assert_close(guider.sample(noise(), LATENT, "euler", sigmas, seed=5),
                               engine_custom(model, conds, "euler", sigmas), rtol=1e-5, atol=1e-5)


def test_comfyuis_guider_and_noise_objects_are_atelier_custom_samplings(model, conds):
    """A pack's CFGGuider subclass and ComfyUI's noise objects drive SamplerCustomAdvanced's sampling, and the
    GUIDER and NOISE values of Atelier's nodes are the objects ComfyUI's modules name."""
    import comfy.samplers
    from comfy_extras import nodes_custom_sampler

    from engine.sampling import custom, guiders

    assert comfy.samplers.CFGGuider is guiders.CFGGuider
    assert nodes_custom_sampler.Noise_RandomNoise is custom.RandomNoise
    assert nodes_custom_sampler.Guider_DualCFG is guiders.DualCFGGuider

    class PositiveOnly(comfy.samplers.CFGGuider):
        def predict_noise(self, x, timestep, model_options=None, seed=None):
            return comfy.samplers.calc_cond_batch(self.inner_model, [self.conds["positive"]], x, timestep,
                                                  model_options)[0]

    sigmas = get_sigmas(model.model_sampling, "normal", 3)
    pack_guider = PositiveOnly(model)
    pack_guider.set_conds(conds[0], conds[1])
    latent = {"samples": LATENT, "batch_index": [2]}
    got = custom.sample_advanced(nodes_custom_sampler.Noise_RandomNoise(5), pack_guider, "euler_ancestral", sigmas,
                                 latent)
    basic = guiders.BasicGuider(model)
    basic.set_conds(conds[0])
    expected = custom.sample_advanced(custom.RandomNoise(5), basic, "euler_ancestral", sigmas, latent)
    for sampled, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(sampled["samples"], reference["samples"], rtol=1e-5, atol=1e-5)
        assert sampled["batch_index"] == [2]
