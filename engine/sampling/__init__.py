"""Noise schedules, samplers (k-diffusion style pure functions over a denoiser) and guidance."""
