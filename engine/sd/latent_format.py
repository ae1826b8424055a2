"""How a model family's latents are scaled, and how they look as RGB for previews."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatentFormat:
    channels: int
    scale_factor: float
    shift: float
    rgb_factors: tuple[tuple[float, float, float], ...]
    rgb_bias: tuple[float, float, float] | None = None

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        """VAE space -> the space the diffusion model works in."""
        return (latent - self.shift) * self.scale_factor

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        """Diffusion-model space -> VAE space."""
        return latent / self.scale_factor + self.shift

    def preview_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """Fast linear latent->RGB approximation of one latent [C,h,w] (model space): uint8 [h,w,3]."""
        factors = torch.tensor(self.rgb_factors, dtype=torch.float32, device=latent.device)
        rgb = torch.einsum("chw,cr->hwr", latent.float(), factors)
        if self.rgb_bias is not None:
            rgb = rgb + torch.tensor(self.rgb_bias, device=latent.device)
        return ((rgb + 1.0) / 2.0).clamp(0, 1).mul(255).round().to(torch.uint8).cpu()


SD15 = LatentFormat(
    channels=4,
    scale_factor=0.18215,
    shift=0.0,
    rgb_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
)

SDXL = LatentFormat(
    channels=4,
    scale_factor=0.13025,
    shift=0.0,
    rgb_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    rgb_bias=(0.1084, -0.0175, -0.0011),
)
