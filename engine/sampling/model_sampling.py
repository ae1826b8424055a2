"""Noise schedules of SD-style models, and how model outputs become denoised predictions.

Discrete schedules come from the scaled-linear betas of training (``sigma = sqrt((1 - a) / a)``, ``a`` = cumulative
product of ``1 - beta``); continuous EDM schedules are log-linear between two sigmas. What the model predicts
(``prediction``) says how its output becomes x0 in ``calculate_denoised``: the noise (eps), v, EDM's F, or x0 itself.
Conventions follow ComfyUI (``comfy.model_sampling``, ``comfy_extras.nodes_model_advanced``) so that schedules and
images match it.
"""

from __future__ import annotations

import math

import torch

# Zero terminal SNR would make the last sigma infinite; ComfyUI keeps this alpha-bar there instead.
ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08
DISCRETE_PREDICTIONS = ("eps", "v_prediction", "x0", "img_to_img")
CONTINUOUS_PREDICTIONS = ("eps", "v_prediction", "edm")
LCM_SIGMA_DATA = 0.5  # LCM's boundary conditions (Luo et al. 2023), as diffusers' LCMScheduler sets them
LCM_TIMESTEP_SCALING = 10.0


def zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Sigmas rescaled so the last training step is (almost) pure noise ("Common Diffusion Noise Schedules and
    Sample Steps Are Flawed", algorithm 1), for models trained that way."""
    root = (1 / (sigmas.double() ** 2 + 1)).sqrt()
    root = (root - root[-1]) * root[0] / (root[0] - root[-1])
    alphas = root**2
    alphas[-1] = ZSNR_LAST_ALPHA_BAR
    return ((1 - alphas) / alphas).sqrt().float()


def _view(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1)).to(like)


class Prediction:
    """What the model predicts (``prediction``) and the data scale ``sigma_data``: how the sampler's latent is
    scaled for the model, and how the model's output becomes the denoised latent."""

    prediction = "eps"
    sigma_data = 1.0

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.prediction == "img_to_img":
            return x
        return x / (_view(sigma, x) ** 2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.prediction in ("x0", "img_to_img"):
            return model_output
        sigma = _view(sigma, x)
        if self.prediction in ("eps", "lcm"):
            return x - model_output * sigma
        data2 = self.sigma_data**2
        skip = x * data2 / (sigma**2 + data2)
        scaled = model_output * sigma * self.sigma_data / (sigma**2 + data2) ** 0.5
        return skip + scaled if self.prediction == "edm" else skip - scaled

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The starting point: the latent plus noise at ``sigma`` (from pure noise, variance 1 + sigma²)."""
        sigma = _view(sigma, noise)
        scale = (1.0 + sigma**2) ** 0.5 if max_denoise else sigma
        return noise * scale + latent

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return latent


class ModelSamplingDiscrete(Prediction):
    def __init__(self, prediction: str = "eps", linear_start: float = 0.00085, linear_end: float = 0.012,
                 timesteps: int = 1000, zsnr: bool = False) -> None:
        if prediction not in DISCRETE_PREDICTIONS:
            raise ValueError(f"unknown prediction type {prediction!r}; known: {', '.join(DISCRETE_PREDICTIONS)}")
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
        return self._nearest_index(sigma)

    def _nearest_index(self, sigma: torch.Tensor) -> torch.Tensor:
        distances = sigma.log().to(self.log_sigmas.device).reshape(-1)[None, :] - self.log_sigmas[:, None]
        return distances.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Sigma at a (fractional) timestep, interpolated in log space."""
        return self._interpolate(timestep.float().to(self.log_sigmas.device)).to(timestep.device)

    def _interpolate(self, index: torch.Tensor) -> torch.Tensor:
        """Sigma at a fractional index of ``sigmas``, interpolated in log space."""
        t = torch.clamp(index, 0, len(self.sigmas) - 1)
        low, high = t.floor().long(), t.ceil().long()
        weight = t.frac()
        return ((1 - weight) * self.log_sigmas[low] + weight * self.log_sigmas[high]).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the schedule (0 = start, pure noise; 1 = end)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * 999.0)))


class ModelSamplingLCM(ModelSamplingDiscrete):
    """Latent Consistency Models (ModelSamplingDiscrete's ``lcm``): the eps schedule kept at the 50 timesteps the
    model was distilled on (19, 39, ..., 999), and LCM's boundary conditions ``x0 = c_out * x0_eps + c_skip * x``
    with ``c_skip = sd² / (t'² + sd²)``, ``c_out = t' / sqrt(t'² + sd²)``, ``t' = 10 t``, ``sd = 0.5``. As ComfyUI,
    ``c_skip`` multiplies the sampler's latent (diffusers' LCMScheduler: the variance-preserving sample), a
    difference below 1e-5 of the latent at every timestep."""

    original_timesteps = 50

    def __init__(self, zsnr: bool = False) -> None:
        super().__init__("eps", zsnr=zsnr)
        self.prediction = "lcm"
        self.skip_steps = len(self.sigmas) // self.original_timesteps
        self.sigmas = self.sigmas[self.skip_steps - 1::self.skip_steps].clone()
        self.log_sigmas = self.sigmas.log()

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return self._nearest_index(sigma) * self.skip_steps + (self.skip_steps - 1)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        index = (timestep.float().to(self.log_sigmas.device) - (self.skip_steps - 1)) / self.skip_steps
        return self._interpolate(index).to(timestep.device)

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        c_skip, c_out = lcm_scalings(_view(self.timestep(sigma), x))
        return c_out * super().calculate_denoised(sigma, model_output, x) + c_skip * x


def lcm_scalings(timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LCM's (c_skip, c_out) at a training timestep."""
    scaled = timestep * LCM_TIMESTEP_SCALING
    data2 = LCM_SIGMA_DATA**2
    return data2 / (scaled**2 + data2), scaled / (scaled**2 + data2) ** 0.5


class ModelSamplingContinuousEDM(Prediction):
    """A continuous schedule log-linear from ``sigma_min`` to ``sigma_max`` (EDM, Karras et al. 2022), the timestep
    the model sees being ``log(sigma) / 4``: models trained that way (Playground v2.5, CosXL, SDXL EDM fine-tunes)."""

    def __init__(self, prediction: str = "v_prediction", sigma_min: float = 0.002, sigma_max: float = 120.0,
                 sigma_data: float = 1.0) -> None:
        if prediction not in CONTINUOUS_PREDICTIONS:
            raise ValueError(f"unknown prediction type {prediction!r}; known: {', '.join(CONTINUOUS_PREDICTIONS)}")
        self.prediction = prediction
        self.sigma_data = sigma_data
        self.sigmas = torch.linspace(math.log(sigma_min), math.log(sigma_max), 1000).exp()
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return 0.25 * sigma.log()

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return (timestep / 0.25).exp()

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        log_min = math.log(float(self.sigma_min))
        return math.exp((math.log(float(self.sigma_max)) - log_min) * (1.0 - percent) + log_min)
