"""ComfyUI's attribute and method names on the VAE value (``comfy.sd.VAE``), over Atelier's ``engine.sd.vae.VAE``.

``decode``, ``encode``, ``decode_tiled`` and ``encode_tiled`` are the VAE's own methods (ComfyUI's signatures);
this mixin adds the rest plug-ins read: ratios, channels, the module, dtype and device, memory estimates and a
minimal ``patcher``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from engine.sd.vae_model import AutoencoderKL


class ComfyVAEMethods:
    """Needs ``model`` (the ``AutoencoderKL``), ``downscale``, ``devices`` and ``_compute_model()``."""

    model: AutoencoderKL
    latent_dim = 2
    output_channels = 3
    output_device = torch.device("cpu")  # Atelier's IMAGE and LATENT tensors live on the CPU

    @property
    def downscale_ratio(self) -> int:
        return self.downscale  # type: ignore[attr-defined]

    @property
    def upscale_ratio(self) -> int:
        return self.downscale  # type: ignore[attr-defined]

    def spacial_compression_decode(self) -> int:
        return self.upscale_ratio

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self) -> None:
        return None

    @property
    def latent_channels(self) -> int:
        return int(self.model.config.embed_dim)

    @property
    def first_stage_model(self) -> AutoencoderKL:
        """The autoencoder as read (LDM names); never modified by Atelier."""
        return self.model

    @property
    def device(self) -> torch.device:
        return self.devices.compute_device()  # type: ignore[attr-defined]

    @property
    def vae_dtype(self) -> torch.dtype:
        return next(self._compute_model().parameters()).dtype  # type: ignore[attr-defined]

    @property
    def patcher(self) -> Any:
        """ComfyUI's ``vae.patcher`` for ``load_models_gpu([vae.patcher])``: the VAE itself (it loads on use)."""
        return self

    @property
    def load_device(self) -> torch.device:
        return self.device

    @property
    def offload_device(self) -> torch.device:
        return self.devices.offload_device()  # type: ignore[attr-defined]

    def memory_used_decode(self, shape: tuple[int, ...], dtype: torch.dtype) -> int:
        """Working bytes to decode a latent of ``shape`` (Atelier's estimate, the one its batching uses)."""
        pixels = shape[2] * shape[3] * self.downscale ** 2  # type: ignore[attr-defined]
        return shape[0] * self.bytes_per_pixel(dtype) * pixels

    def memory_used_encode(self, shape: tuple[int, ...], dtype: torch.dtype) -> int:
        """Working bytes to encode pixels of ``shape`` ([B, C, H, W])."""
        return shape[0] * self.bytes_per_pixel(dtype) * shape[2] * shape[3]

    def bytes_per_pixel(self, dtype: torch.dtype) -> int:
        raise NotImplementedError

    def get_sd(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def throw_exception_if_invalid(self) -> None:
        """A VAE value always holds its model (a checkpoint without one gives no VAE value)."""

    def model_size(self) -> int:
        return int(self.memory_bytes())  # type: ignore[attr-defined]
