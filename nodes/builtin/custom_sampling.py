"""Custom sampling: pick a sampler and a schedule separately, and change how a model reads noise levels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.definition import InputSpec
from core.values import Conditioning, Latent
from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.api import Boolean, Combo, ExecutionContext, Float, Folders, Int, Node, Output, Socket
from nodes.builtin.sd import SEED_MAX, preview_callback

if TYPE_CHECKING:
    import torch

    from engine.sampling.custom import Noise
    from engine.sampling.guiders import CFGGuider
    from engine.sd.model import DiffusionModel


def guidance_scale(name: str) -> InputSpec:
    """A CFG scale input, as ComfyUI declares them."""
    return Float(name, 8.0, min=0.0, max=100.0, step=0.1, round=0.01)


class KSamplerSelect(Node):
    category = "sampling/custom_sampling/samplers"
    inputs = [Combo("sampler_name", SAMPLER_NAMES)]
    outputs = [Output("SAMPLER")]

    def execute(self, sampler_name: str) -> tuple:
        return (sampler_name,)  # a SAMPLER is its name


class BasicScheduler(Node):
    category = "sampling/custom_sampling/schedulers"
    inputs = [Socket("model", "MODEL"), Combo("scheduler", SCHEDULER_NAMES), Int("steps", 20, min=1, max=10000),
              Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("SIGMAS")]

    def execute(self, model: DiffusionModel, scheduler: str, steps: int, denoise: float) -> tuple:
        from engine.sampling.ksampler import schedule

        return (schedule(model.model_sampling, scheduler, "euler", steps, denoise),)


class KarrasScheduler(Node):
    category = "sampling/custom_sampling/schedulers"
    inputs = [Int("steps", 20, min=1, max=10000), Float("sigma_max", 14.614642, min=0.0, max=5000.0, step=0.01),
              Float("sigma_min", 0.0291675, min=0.0, max=5000.0, step=0.01),
              Float("rho", 7.0, min=0.0, max=100.0, step=0.01)]
    outputs = [Output("SIGMAS")]

    def execute(self, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple:
        from engine.sampling.schedulers import karras

        return (karras(steps, sigma_min, sigma_max, rho),)


class SDTurboScheduler(Node):
    """SD-Turbo's and SDXL-Turbo's schedule: up to ten of the timesteps 999, 899, ..., 99 they were distilled on."""

    category = "sampling/custom_sampling/schedulers"
    inputs = [Socket("model", "MODEL"), Int("steps", 1, min=1, max=10),
              Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("SIGMAS")]

    def execute(self, model: DiffusionModel, steps: int, denoise: float) -> tuple:
        from engine.sampling.schedulers import sd_turbo

        return (sd_turbo(model.model_sampling, steps, denoise),)


class SamplerCustom(Node):
    """Samples with an explicit sampler and schedule; also returns the last denoised prediction."""

    category = "sampling/custom_sampling"
    inputs = [Socket("model", "MODEL"), Boolean("add_noise", True),
              Int("noise_seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
              guidance_scale("cfg"), Socket("positive", "CONDITIONING"),
              Socket("negative", "CONDITIONING"), Socket("sampler", "SAMPLER"), Socket("sigmas", "SIGMAS"),
              Socket("latent_image", "LATENT")]
    outputs = [Output("LATENT", "output"), Output("LATENT", "denoised_output")]

    def execute(self, model: DiffusionModel, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
                negative: Conditioning, sampler: str, sigmas: torch.Tensor, latent_image: Latent,
                context: ExecutionContext) -> tuple:
        from engine.sampling.custom import sample_custom

        return sample_custom(model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image,
                             preview_callback(model, context))


class RandomNoise(Node):
    """The noise KSampler adds for a seed."""

    category = "sampling/custom_sampling/noise"
    inputs = [Int("noise_seed", 0, min=0, max=SEED_MAX, control_after_generate=True)]
    outputs = [Output("NOISE")]

    def execute(self, noise_seed: int) -> tuple:
        from engine.sampling.custom import RandomNoise as Noise

        return (Noise(noise_seed),)


class DisableNoise(Node):
    """No noise: the latent is sampled as it is (a second pass over leftover noise)."""

    category = "sampling/custom_sampling/noise"
    outputs = [Output("NOISE")]

    def execute(self) -> tuple:
        from engine.sampling.custom import EmptyNoise

        return (EmptyNoise(),)


class BasicGuider(Node):
    """Guidance by one conditioning alone, without a negative (guidance-distilled models)."""

    category = "sampling/custom_sampling/guiders"
    inputs = [Socket("model", "MODEL"), Socket("conditioning", "CONDITIONING")]
    outputs = [Output("GUIDER")]

    def execute(self, model: DiffusionModel, conditioning: Conditioning) -> tuple:
        from engine.sampling.guiders import BasicGuider as Guider

        guider = Guider(model)
        guider.set_conds(conditioning)
        return (guider,)


class CFGGuiderNode(Node):
    """Classifier-free guidance between a positive and a negative conditioning, as KSampler guides."""

    node_name = "CFGGuider"
    category = "sampling/custom_sampling/guiders"
    inputs = [Socket("model", "MODEL"), Socket("positive", "CONDITIONING"), Socket("negative", "CONDITIONING"),
              guidance_scale("cfg")]
    outputs = [Output("GUIDER")]

    def execute(self, model: DiffusionModel, positive: Conditioning, negative: Conditioning, cfg: float) -> tuple:
        from engine.sampling.guiders import CFGGuider

        guider = CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        return (guider,)


class DualCFGGuider(Node):
    """Two conditionings guided apart with their own scales: cond2 away from the negative by cfg_cond2_negative,
    cond1 away from cond2 by cfg_conds (edit models: the image, then the instruction); nested applies the second
    guidance to the result of the first."""

    category = "sampling/custom_sampling/guiders"
    inputs = [Socket("model", "MODEL"), Socket("cond1", "CONDITIONING"), Socket("cond2", "CONDITIONING"),
              Socket("negative", "CONDITIONING"), guidance_scale("cfg_conds"),
              guidance_scale("cfg_cond2_negative"), Combo("style", ["regular", "nested"])]
    outputs = [Output("GUIDER")]

    def execute(self, model: DiffusionModel, cond1: Conditioning, cond2: Conditioning, negative: Conditioning,
                cfg_conds: float, cfg_cond2_negative: float, style: str) -> tuple:
        from engine.sampling.guiders import DualCFGGuider as Guider

        guider = Guider(model)
        guider.set_conds(cond1, cond2, negative)
        guider.set_cfg(cfg_conds, cfg_cond2_negative, nested=style == "nested")
        return (guider,)


class SamplerCustomAdvanced(Node):
    """Samples with noise, guidance, a sampler and a schedule given separately; also returns the last denoised
    prediction."""

    category = "sampling/custom_sampling"
    inputs = [Socket("noise", "NOISE"), Socket("guider", "GUIDER"), Socket("sampler", "SAMPLER"),
              Socket("sigmas", "SIGMAS"), Socket("latent_image", "LATENT")]
    outputs = [Output("LATENT", "output"), Output("LATENT", "denoised_output")]

    def execute(self, noise: Noise, guider: CFGGuider, sampler: str, sigmas: torch.Tensor, latent_image: Latent,
                context: ExecutionContext) -> tuple:
        from engine.sampling.custom import sample_advanced

        return sample_advanced(noise, guider, sampler, sigmas, latent_image,
                               preview_callback(guider.model_patcher, context))


class RescaleCFG(Node):
    """Guidance in v space with its spread pulled back towards the conditional prediction's: fewer burnt colours at
    high CFG, especially with v-prediction models (SD2-768, zero-terminal-SNR models)."""

    category = "advanced/model"
    inputs = [Socket("model", "MODEL"), Float("multiplier", 0.7, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model: DiffusionModel, multiplier: float) -> tuple:
        from engine.sampling.cfg import rescale_cfg

        patched = model.clone()
        patched.cfg_function = rescale_cfg(multiplier)
        return (patched,)


class ModelSamplingDiscreteNode(Node):
    """Sets what the model predicts (eps, v, x0; lcm: a Latent Consistency Model's 50-step schedule and boundary
    conditions) and optionally zero terminal SNR, on a clone of the model."""

    node_name = "ModelSamplingDiscrete"
    category = "advanced/model"
    inputs = [Socket("model", "MODEL"), Combo("sampling", ["eps", "v_prediction", "lcm", "x0", "img_to_img"]),
              Boolean("zsnr", False)]
    outputs = [Output("MODEL")]

    def execute(self, model: DiffusionModel, sampling: str, zsnr: bool) -> tuple:
        from engine.sampling.model_sampling import ModelSamplingDiscrete, ModelSamplingLCM

        patched = model.clone()
        lcm = sampling == "lcm"
        patched.model_sampling = ModelSamplingLCM(zsnr=zsnr) if lcm else ModelSamplingDiscrete(sampling, zsnr=zsnr)
        return (patched,)


EDM_REFUSED = {  # ComfyUI's choices Atelier cannot honour, and why
    "edm_playground_v2.5": "Playground v2.5's per-channel latent format is not available in Atelier",
    "cosmos_rflow": "Cosmos models' rectified-flow sampling is for Cosmos models, which Atelier does not run",
}


class ModelSamplingContinuousEDM(Node):
    """A continuous EDM noise schedule between sigma_min and sigma_max, for models trained on one (CosXL,
    SDXL EDM fine-tunes), with what the model predicts, on a clone of the model."""

    category = "advanced/model"
    inputs = [Socket("model", "MODEL"),
              Combo("sampling", ["v_prediction", "edm", "edm_playground_v2.5", "eps", "cosmos_rflow"]),
              Float("sigma_max", 120.0, min=0.0, max=1000.0, step=0.001, round=False),
              Float("sigma_min", 0.002, min=0.0, max=1000.0, step=0.001, round=False)]
    outputs = [Output("MODEL")]

    @classmethod
    def validate(cls, folders: Folders, sampling: str | None = None, **_: Any) -> bool | str:
        return f"sampling {sampling}: {EDM_REFUSED[sampling]}" if sampling in EDM_REFUSED else True

    def execute(self, model: DiffusionModel, sampling: str, sigma_max: float, sigma_min: float) -> tuple:
        from engine.sampling.model_sampling import ModelSamplingContinuousEDM as Schedule

        if sampling in EDM_REFUSED:
            raise ValueError(f"ModelSamplingContinuousEDM sampling {sampling}: {EDM_REFUSED[sampling]}")
        patched = model.clone()
        patched.model_sampling = Schedule(sampling, sigma_min, sigma_max, 0.5 if sampling == "edm" else 1.0)
        return (patched,)


NODES = [KSamplerSelect, BasicScheduler, KarrasScheduler, SDTurboScheduler, SamplerCustom, SamplerCustomAdvanced,
         RandomNoise, DisableNoise, BasicGuider, CFGGuiderNode, DualCFGGuider, ModelSamplingDiscreteNode,
         ModelSamplingContinuousEDM, RescaleCFG]
