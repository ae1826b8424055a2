"""The VAE object nodes pass around: IMAGE [B,H,W,3] 0..1 <-> LATENT [B,4,H/8,W/8] (unscaled)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.device import AUTO, Devices
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


class VAE:
    def __init__(self, model: AutoencoderKL, latent_format: LatentFormat = SD15, devices: Devices = AUTO) -> None:
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

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent [B,4,h,w] (unscaled) -> IMAGE [B,8h,8w,3] in 0..1; tiled when too large for free memory."""
        pixels = latent.shape[2] * latent.shape[3] * self.downscale**2
        if self.items_that_fit(pixels) == 0:
            return self.decode_tiled(latent)
        return self._to_image(self._run(self._compute_model().decode, latent, pixels))

    def encode_tiled(self, pixels: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """As ``encode`` but over ``tile_size``-pixel tiles overlapping by ``overlap`` pixels."""
        return self._encode_tiles(self._prepare_pixels(pixels), tile_size, overlap)

    def _encode_tiles(self, x: torch.Tensor, tile_size: int, overlap: int) -> torch.Tensor:
        f = self.downscale
        tile = max(f, tile_size // f * f)

        def encode_tile(t: torch.Tensor) -> torch.Tensor:
            return self._run(self._compute_model().encode, t, t.shape[2] * t.shape[3])

        return tiled_map(x, encode_tile, tile, overlap, 1.0 / f, self.model.config.embed_dim, align=f)

    def decode_tiled(self, latent: torch.Tensor, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
        """As ``decode`` but over tiles of ``tile_size`` output pixels overlapping by ``overlap`` pixels."""
        f = self.downscale

        def decode_tile(t: torch.Tensor) -> torch.Tensor:
            return self._run(self._compute_model().decode, t, t.shape[2] * t.shape[3] * f * f)

        out = tiled_map(latent.float().cpu(), decode_tile, max(1, tile_size // f), max(1, overlap // f), f, 3)
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
