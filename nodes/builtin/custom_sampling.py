"""Custom sampling: pick a sampler and a schedule separately, and change how a model reads noise levels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.values import Conditioning, Latent
from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.api import Boolean, Combo, ExecutionContext, Float, Int, Node, Output, Socket
from nodes.builtin.sd import SEED_MAX, preview_callback

if TYPE_CHECKING:
    import torch

    from engine.sd.model import DiffusionModel


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


class SamplerCustom(Node):
    """Samples with an explicit sampler and schedule; also returns the last denoised prediction."""

    category = "sampling/custom_sampling"
    inputs = [Socket("model", "MODEL"), Boolean("add_noise", True),
              Int("noise_seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
              Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, round=0.01), Socket("positive", "CONDITIONING"),
              Socket("negative", "CONDITIONING"), Socket("sampler", "SAMPLER"), Socket("sigmas", "SIGMAS"),
              Socket("latent_image", "LATENT")]
    outputs = [Output("LATENT", "output"), Output("LATENT", "denoised_output")]

    def execute(self, model: DiffusionModel, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
                negative: Conditioning, sampler: str, sigmas: torch.Tensor, latent_image: Latent,
                context: ExecutionContext) -> tuple:
        from engine.sampling.custom import sample_custom

        return sample_custom(model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image,
                             preview_callback(model, context))


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
    """Sets what the model predicts (eps or v) and optionally zero terminal SNR, on a clone of the model."""

    node_name = "ModelSamplingDiscrete"
    category = "advanced/model"
    inputs = [Socket("model", "MODEL"), Combo("sampling", ["eps", "v_prediction"]), Boolean("zsnr", False)]
    outputs = [Output("MODEL")]

    def execute(self, model: DiffusionModel, sampling: str, zsnr: bool) -> tuple:
        from engine.sampling.model_sampling import ModelSamplingDiscrete

        patched = model.clone()
        patched.model_sampling = ModelSamplingDiscrete(sampling, zsnr=zsnr)
        return (patched,)


NODES = [KSamplerSelect, BasicScheduler, KarrasScheduler, SamplerCustom, ModelSamplingDiscreteNode, RescaleCFG]
