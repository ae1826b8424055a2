"""Noise schedules, samplers (k-diffusion style pure functions over a denoiser) and guidance."""

from engine.sampling.registry import SAMPLER_NAMES
from engine.sampling.schedulers import SCHEDULER_NAMES

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES"]
