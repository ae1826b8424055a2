"""Noise schedules, samplers (k-diffusion style pure functions over a denoiser) and guidance."""

from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES

__all__ = ["SAMPLER_NAMES", "SCHEDULER_NAMES"]
