"""SamplerCustomAdvanced with its noise, guider and schedule nodes, the model-sampling nodes and SDTurboScheduler,
end to end on the shipped digits checkpoint: each equals the KSampler run it stands for, or the hand-derived
reduction of its guidance."""

from __future__ import annotations

import pytest
import torch

from core.folders import Folders
from core.registry import Registry
from engine.sampling.model_sampling import ModelSamplingContinuousEDM, ModelSamplingLCM
from engine.sampling.schedulers import sd_turbo
from nodes.api import node_definitions
from nodes.builtin import builtin_definitions
from tests.conftest import ROOT
from tests.harness import Harness
from tests.nodes.graphs import Keep, node

if not (ROOT / "models" / "checkpoints" / "atelier-digits.safetensors").is_file():
    pytest.skip("the digits checkpoint is not in models/", allow_module_level=True)

STEPS, CFG = 4, 4.0


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    folders = Folders.under(tmp_path_factory.mktemp("custom_sampling"), models_dir=ROOT / "models")
    registry = Registry()
    registry.add_all([*builtin_definitions(), *node_definitions([Keep], "nodes")], builtin=True)
    return Harness(folders, registry)


def output(harness: Harness, prompt: dict, node_id: str, slot: int = 0):
    harness.executor.cache.clear()
    return harness.output({**prompt, "keep": node("Keep", value=(node_id, slot))}, node_id, slot)


def digits_prompt() -> dict:
    return {
        "ck": node("CheckpointLoaderSimple", ckpt_name="atelier-digits.safetensors"),
        "pos": node("CLIPTextEncode", text="a handwritten digit 7", clip=("ck", 1)),
        "other": node("CLIPTextEncode", text="a handwritten digit 3", clip=("ck", 1)),
        "neg": node("CLIPTextEncode", text="", clip=("ck", 1)),
        "lat": node("EmptyLatentImage", width=32, height=32, batch_size=2),
        "sel": node("KSamplerSelect", sampler_name="euler_ancestral"),
        "sch": node("BasicScheduler", model=("ck", 0), scheduler="normal", steps=STEPS, denoise=1.0),
        "noise": node("RandomNoise", noise_seed=5),
    }


def advanced(guider: str, noise: str = "noise", latent: tuple = ("lat", 0)) -> dict:
    return node("SamplerCustomAdvanced", noise=(noise, 0), guider=(guider, 0), sampler=("sel", 0),
                sigmas=("sch", 0), latent_image=latent)


def ksampler(cfg: float = CFG, positive: str = "pos", negative: str = "neg") -> dict:
    return node("KSampler", model=("ck", 0), seed=5, steps=STEPS, cfg=cfg, sampler_name="euler_ancestral",
                scheduler="normal", positive=(positive, 0), negative=(negative, 0), latent_image=("lat", 0),
                denoise=1.0)


def cfg_guider(positive: str = "pos", negative: str = "neg", cfg: float = CFG) -> dict:
    return node("CFGGuider", model=("ck", 0), positive=(positive, 0), negative=(negative, 0), cfg=cfg)


def test_sampler_custom_advanced_draws_ksamplers_images(harness):
    prompt = {**digits_prompt(), "ks": ksampler(), "guide": cfg_guider(), "adv": advanced("guide"),
              "sc": node("SamplerCustom", model=("ck", 0), add_noise=True, noise_seed=5, cfg=CFG, positive=("pos", 0),
                         negative=("neg", 0), sampler=("sel", 0), sigmas=("sch", 0), latent_image=("lat", 0)),
              "img_ks": node("VAEDecode", samples=("ks", 0), vae=("ck", 2)),
              "img_adv": node("VAEDecode", samples=("adv", 0), vae=("ck", 2))}
    assert torch.equal(output(harness, prompt, "img_adv"), output(harness, prompt, "img_ks"))
    assert torch.equal(output(harness, prompt, "adv")["samples"], output(harness, prompt, "ks")["samples"])
    assert torch.equal(output(harness, prompt, "adv", 1)["samples"], output(harness, prompt, "sc", 1)["samples"])
    assert len([event for event in harness.recorded.names() if event == "progress"]) == STEPS


def test_disable_noise_samples_the_latent_as_it_is(harness):
    prompt = {**digits_prompt(), "guide": cfg_guider(), "off": node("DisableNoise"),
              "noisy": node("KSamplerAdvanced", model=("ck", 0), add_noise="enable", noise_seed=9, steps=STEPS,
                            cfg=CFG, sampler_name="euler", scheduler="normal", positive=("pos", 0),
                            negative=("neg", 0), latent_image=("lat", 0), start_at_step=0, end_at_step=2,
                            return_with_leftover_noise="enable"),
              "ksa": node("KSamplerAdvanced", model=("ck", 0), add_noise="disable", noise_seed=0, steps=STEPS,
                          cfg=CFG, sampler_name="euler_ancestral", scheduler="normal", positive=("pos", 0),
                          negative=("neg", 0), latent_image=("noisy", 0), start_at_step=0, end_at_step=10000,
                          return_with_leftover_noise="disable"),
              "adv": advanced("guide", noise="off", latent=("noisy", 0))}
    assert torch.equal(output(harness, prompt, "adv")["samples"], output(harness, prompt, "ksa")["samples"])


def test_basic_guider_is_ksampler_at_cfg_one(harness):
    prompt = {**digits_prompt(), "ks": ksampler(cfg=1.0),
              "guide": node("BasicGuider", model=("ck", 0), conditioning=("pos", 0)), "adv": advanced("guide")}
    assert torch.equal(output(harness, prompt, "adv")["samples"], output(harness, prompt, "ks")["samples"])


@pytest.mark.parametrize(("cond1", "cfg_conds", "cfg_cond2_negative", "style", "plain"), [
    ("pos", 3.0, CFG, "regular", ("pos", "neg", CFG)),  # cond1 = cond2: plain CFG of cond2 by cfg_cond2_negative
    ("other", 3.0, 1.0, "regular", ("other", "pos", 3.0)),  # no negative guidance: cond1 guided away from cond2
    ("other", 1.0, CFG, "nested", ("other", "neg", CFG)),  # cond1 unguided, then guided away from the negative
])
def test_dual_cfg_guider_reduces_to_cfg(harness, cond1, cfg_conds, cfg_cond2_negative, style, plain):
    prompt = {**digits_prompt(), "plain": cfg_guider(*plain), "ref": advanced("plain"), "adv": advanced("dual"),
              "dual": node("DualCFGGuider", model=("ck", 0), cond1=(cond1, 0), cond2=("pos", 0),
                           negative=("neg", 0), cfg_conds=cfg_conds, cfg_cond2_negative=cfg_cond2_negative,
                           style=style)}
    torch.testing.assert_close(output(harness, prompt, "adv")["samples"], output(harness, prompt, "ref")["samples"],
                               rtol=1e-4, atol=1e-4)  # three conditionings batched where CFG batches two


def test_sd_turbo_scheduler_feeds_sampler_custom(harness):
    prompt = {**digits_prompt(), "turbo": node("SDTurboScheduler", model=("ck", 0), steps=2, denoise=1.0),
              "sc": node("SamplerCustom", model=("ck", 0), add_noise=True, noise_seed=5, cfg=1.0,
                         positive=("pos", 0), negative=("neg", 0), sampler=("sel", 0), sigmas=("turbo", 0),
                         latent_image=("lat", 0))}
    model = output(harness, prompt, "ck")
    assert torch.equal(output(harness, prompt, "turbo"), sd_turbo(model.model_sampling, 2, 1.0))
    assert torch.isfinite(output(harness, prompt, "sc")["samples"]).all()


def test_model_sampling_nodes_patch_a_clone(harness):
    prompt = {**digits_prompt(),
              "lcm": node("ModelSamplingDiscrete", model=("ck", 0), sampling="lcm", zsnr=False),
              "edm": node("ModelSamplingContinuousEDM", model=("ck", 0), sampling="v_prediction", sigma_max=120.0,
                          sigma_min=0.002),
              "ks": {**ksampler(cfg=1.5), "inputs": {**ksampler(cfg=1.5)["inputs"], "model": ["lcm", 0],
                                                      "sampler_name": "lcm", "scheduler": "sgm_uniform"}}}
    lcm, edm, base = output(harness, prompt, "lcm"), output(harness, prompt, "edm"), output(harness, prompt, "ck")
    assert isinstance(lcm.model_sampling, ModelSamplingLCM) and isinstance(edm.model_sampling,
                                                                         ModelSamplingContinuousEDM)
    assert base.model_sampling.prediction == "eps" and edm.model_sampling.prediction == "v_prediction"
    assert torch.isfinite(output(harness, prompt, "ks")["samples"]).all()


def test_model_sampling_continuous_edm_refuses_what_atelier_cannot_honour(harness):
    prompt = {**digits_prompt(), "edm": node("ModelSamplingContinuousEDM", model=("ck", 0), sampling="cosmos_rflow",
                                             sigma_max=80.0, sigma_min=0.002),
              "keep": node("Keep", value=("edm", 0))}
    result = harness.validate(prompt)
    assert not result.ok
    assert "Cosmos" in str(result.node_errors["edm"])
