"""The VAE object nodes pass around: IMAGE [B,H,W,3] 0..1 <-> LATENT [B,4,H/8,W/8] (unscaled).

It is also ComfyUI's ``comfy.sd.VAE``: built from a state dict with ``VAE(sd=...)``, with ComfyUI's signatures for
``decode``/``encode``/``decode_tiled``/``encode_tiled`` and the other names in ``engine.sd.comfy_vae``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from engine.device import AUTO, Devices
from engine.sd.comfy_vae import ComfyVAEMethods
from engine.sd.latent_format import SD15, LatentFormat
from engine.sd.materialize import compute_copy, is_on
from engine.sd.memory import free_memory_bytes, module_bytes
from engine.sd.tiling import tiled_map
from engine.sd.vae_model import AutoencoderKL, VAEConfig, detect_vae_config

__all__ = ["VAE", "AutoencoderKL", "VAEConfig", "detect_vae_config"]

# Working memory of one image, in units of (pixels x base channels x dtype bytes): the SD VAE's fp32 decode
# at 256x256 peaks near 0.7 GB (bench/bench_sd.py), about 21 units; rounded up.
_ACTIVATION_FACTOR = 24


def vae_compute_dtype(weight_dtype: torch.dtype, device: torch.device, devices: Devices = AUTO) -> torch.dtype:
    """Half-precision files run in bf16 where the device has it natively, else fp32; never fp16 (the SD VAE
    overflows). fp32 files stay fp32.

    On the CPU this is the UNet's rule (``Devices.compute_dtype``): bf16 with AVX512-BF16/AMX. There bf16 decodes
    SD1.5 4-7x faster than fp32 (bench/bench_vae.py) within 16/255 of fp32's pixels, RMS under 2%
    (tests/engine/test_vae.py).
    """
    if weight_dtype not in (torch.float16, torch.bfloat16):
        return weight_dtype
    if device.type == "cpu":
        return devices.compute_dtype(weight_dtype, device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _channels_last(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether activations run channels-last: bf16 on the CPU, where oneDNN's AMX/AVX512-BF16 convolutions work on
    NHWC (NCHW activations would be converted at every convolution) and the attention block's pixel rows are then
    free views. The weights' layout made no measurable difference, so they stay as loaded; fp32 keeps the layout
    its results were checked in."""
    return device.type == "cpu" and dtype == torch.bfloat16


class VAE(ComfyVAEMethods):
    def __init__(self, model: AutoencoderKL | None = None, latent_format: LatentFormat = SD15, devices: Devices = AUTO,
                 *, sd: Mapping[str, torch.Tensor] | None = None, device: torch.device | str | None = None,
                 **comfy_options: Any) -> None:
        """``VAE(model, latent_format, devices)``, or ComfyUI's ``VAE(sd=state_dict, device=None)`` (LDM or
        diffusers keys; ``device="cpu"`` computes on the CPU; ComfyUI's ``config``/``dtype``/``metadata`` are not
        supported and must be None)."""
        if sd is not None or isinstance(model, Mapping):
            model, devices = _from_state_dict(sd if sd is not None else model, device, comfy_options)
        if model is None:
            raise TypeError("VAE needs an AutoencoderKL or a state dict (sd=...)")
        self.model = model  # the weights as read (offload device, usually the compute dtype); never modified
        self.latent_format = latent_format
        self.devices = devices  # where and in which dtype it computes
        self.file_dtype: torch.dtype | None = None  # the dtype its weights had in their file; saving writes that
        self._runner: AutoencoderKL | None = None

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.model.config.ch_mult) - 1)

    def memory_bytes(self) -> int:
        runner = self._runner if self._runner is not None and self._runner is not self.model else None
        return module_bytes(self.model) + (module_bytes(runner) if runner is not None else 0)

    def _compute_model(self) -> AutoencoderKL:
        device = self.devices.compute_device()
        weight_dtype = next(self.model.parameters()).dtype
        dtype = vae_compute_dtype(weight_dtype, device, self.devices)
        if self._runner is None or not is_on(self._runner, device, dtype):
            self._runner = compute_copy(self.model, device, dtype)
        return self._runner

    def items_that_fit(self, pixels: int) -> int:
        """How many images of ``pixels`` pixels one encode/decode call can hold in free device memory."""
        param = next(self._compute_model().parameters())
        per_item = pixels * self.model.config.ch * _ACTIVATION_FACTOR * param.element_size()
        return int(free_memory_bytes(param.device) * 0.8) // per_item

    def _run(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, pixels: int) -> torch.Tensor:
        """``fn`` over ``x`` in batches that fit the compute device; float32 result on the CPU."""
        param = next(self._compute_model().parameters())
        batch = max(1, self.items_that_fit(pixels))
        layout = torch.channels_last if _channels_last(param.device, param.dtype) else torch.preserve_format
        outs = []
        with torch.inference_mode():
            for chunk in x.split(batch):
                outs.append(fn(chunk.to(param.device, param.dtype, memory_format=layout)).float().cpu())
        return torch.cat(outs).contiguous()

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """IMAGE [B,H,W,C] 0..1 -> posterior-mean latent; H and W are cropped to multiples of 8.

        Images too large for free memory are encoded in tiles.
        """
        x = self._prepare_pixels(pixels)
        if self.items_that_fit(x.shape[2] * x.shape[3]) == 0:
            return self._encode_tiles(x, 512, 64)
        return self._run(self._compute_model().encode, x, x.shape[2] * x.shape[3])

    def bytes_per_pixel(self, dtype: torch.dtype) -> int:
        """Working memory per image pixel (ComfyUI's ``memory_used_*`` read it)."""
        return self.model.config.ch * _ACTIVATION_FACTOR * torch.empty(0, dtype=dtype).element_size()

    def decode(self, latent: torch.Tensor, vae_options: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Latent [B,4,h,w] (unscaled) -> IMAGE [B,8h,8w,3] in 0..1; tiled when too large for free memory.
        (ComfyUI's ``vae_options`` are for video VAEs; none apply here.)"""
        if vae_options:
            raise NotImplementedError(f"vae_options {sorted(vae_options)} are not supported by Atelier's KL VAE")
        pixels = latent.shape[2] * latent.shape[3] * self.downscale**2
        if self.items_that_fit(pixels) == 0:
            return self.decode_tiled(latent, overlap=8)  # Atelier's fallback: 64-pixel latent tiles, 8 overlap
        return self._to_image(self._run(self._compute_model().decode, latent, pixels))

    def encode_tiled(self, pixels: torch.Tensor, tile_x: int | None = None, tile_y: int | None = None,
                     overlap: int | None = None, tile_t: int | None = None, overlap_t: int | None = None
                     ) -> torch.Tensor:
        """As ``encode`` but over tiles ``tile_x`` by ``tile_y`` pixels (default 512) overlapping by ``overlap``
        pixels (default 64), ComfyUI's signature (``tile_t``/``overlap_t`` are for video VAEs and ignored)."""
        return self._encode_tiles(self._prepare_pixels(pixels), (tile_y or 512, tile_x or 512),
                                  64 if overlap is None else overlap)

    def _encode_tiles(self, x: torch.Tensor, tile_size: int | tuple[int, int], overlap: int) -> torch.Tensor:
        f = self.downscale
        sides = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
        tile = (max(f, sides[0] // f * f), max(f, sides[1] // f * f))

        def encode_tile(t: torch.Tensor) -> torch.Tensor:
            return self._run(self._compute_model().encode, t, t.shape[2] * t.shape[3])

        return tiled_map(x, encode_tile, tile, overlap, 1.0 / f, self.model.config.embed_dim, align=f)

    def decode_tiled(self, latent: torch.Tensor, tile_x: int | None = None, tile_y: int | None = None,
                     overlap: int | None = None, tile_t: int | None = None, overlap_t: int | None = None
                     ) -> torch.Tensor:
        """As ``decode`` but over tiles ``tile_x`` by ``tile_y`` latent pixels (default 64) overlapping by
        ``overlap`` latent pixels (default 16), ComfyUI's signature and units (``tile_t``/``overlap_t`` are for
        video VAEs and ignored). One pass, where ComfyUI averages three tilings."""
        f = self.downscale
        tile = (max(1, tile_y or 64), max(1, tile_x or 64))
        overlap = max(1, 16 if overlap is None else overlap)

        def decode_tile(t: torch.Tensor) -> torch.Tensor:
            return self._run(self._compute_model().decode, t, t.shape[2] * t.shape[3] * f * f)

        out = tiled_map(latent.float().cpu(), decode_tile, tile, overlap, f, 3)
        return self._to_image(out)

    def _prepare_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        f = self.downscale
        h, w = pixels.shape[1] // f * f, pixels.shape[2] // f * f
        if h == 0 or w == 0:
            raise ValueError(f"image of {pixels.shape[1]}x{pixels.shape[2]} is smaller than {f} pixels")
        # Crop centred, as ComfyUI's VAEEncode does, then map 0..1 to the VAE's -1..1.
        y0, x0 = (pixels.shape[1] - h) // 2, (pixels.shape[2] - w) // 2
        x = pixels[:, y0 : y0 + h, x0 : x0 + w, :3].movedim(-1, 1).float()
        return x * 2.0 - 1.0

    @staticmethod
    def _to_image(x: torch.Tensor) -> torch.Tensor:
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1).contiguous()


def _from_state_dict(sd: Mapping[str, torch.Tensor], device: torch.device | str | None,
                     options: Mapping[str, Any]) -> tuple[AutoencoderKL, Devices]:
    """ComfyUI's ``VAE(sd=...)``: the autoencoder read as ``engine.sd.components`` reads a VAE file's keys."""
    from engine.sd.components import vae_from_state_dict

    unsupported = sorted(name for name, value in options.items() if value is not None)
    if unsupported:
        raise NotImplementedError(f"VAE({', '.join(unsupported)}=...) is not supported by Atelier (KL VAEs only)")
    devices = Devices(cpu_only=True) if device is not None and torch.device(device).type == "cpu" else AUTO
    return vae_from_state_dict(sd, devices).model, devices
