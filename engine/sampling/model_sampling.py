"""The discrete noise schedule of SD-style models, and how model outputs become denoised predictions.

Sigmas come from the scaled-linear betas of training (``sigma = sqrt((1 - a) / a)``, ``a`` = cumulative
product of ``1 - beta``). Eps models predict the noise, v models ``v``; both give x0 through
``calculate_denoised``. Conventions follow ComfyUI so that schedules and images match it.
"""

from __future__ import annotations

import torch

# Zero terminal SNR would make the last sigma infinite; ComfyUI keeps this alpha-bar there instead.
ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08


def zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Sigmas rescaled so the last training step is (almost) pure noise ("Common Diffusion Noise Schedules and
    Sample Steps Are Flawed", algorithm 1), for models trained that way."""
    root = (1 / (sigmas.double() ** 2 + 1)).sqrt()
    root = (root - root[-1]) * root[0] / (root[0] - root[-1])
    alphas = root**2
    alphas[-1] = ZSNR_LAST_ALPHA_BAR
    return ((1 - alphas) / alphas).sqrt().float()


class ModelSamplingDiscrete:
    sigma_data = 1.0

    def __init__(self, prediction: str = "eps", linear_start: float = 0.00085, linear_end: float = 0.012,
                 timesteps: int = 1000, zsnr: bool = False) -> None:
        if prediction not in ("eps", "v_prediction"):
            raise ValueError(f"unknown prediction type {prediction!r}")
        self.prediction = prediction
        betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.sigmas = (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float()
        if zsnr:
            self.sigmas = zero_terminal_snr(self.sigmas)
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The training timestep nearest to ``sigma`` in log space (ComfyUI rounds; it does not interpolate)."""
        distances = sigma.log().to(self.log_sigmas.device).reshape(-1)[None, :] - self.log_sigmas[:, None]
        return distances.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Sigma at a (fractional) timestep, interpolated in log space."""
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), 0, len(self.sigmas) - 1)
        low, high = t.floor().long(), t.ceil().long()
        weight = t.frac()
        log_sigma = (1 - weight) * self.log_sigmas[low] + weight * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the schedule (0 = start, pure noise; 1 = end)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * 999.0)))

    def _view(self, sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1)).to(like)

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x / (self._view(sigma, x) ** 2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sigma = self._view(sigma, x)
        if self.prediction == "eps":
            return x - model_output * sigma
        data2 = self.sigma_data**2
        return x * data2 / (sigma**2 + data2) - model_output * sigma * self.sigma_data / (sigma**2 + data2) ** 0.5

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The starting point: the latent plus noise at ``sigma`` (from pure noise, variance 1 + sigma²)."""
        sigma = self._view(sigma, noise)
        scale = (1.0 + sigma**2) ** 0.5 if max_denoise else sigma
        return noise * scale + latent

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return latent
