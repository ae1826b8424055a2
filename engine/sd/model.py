"""The MODEL value: a UNet plus its noise schedule, turning noisy latents into denoised predictions.

Clones share the loaded weights. Weight patches (LoRA and friends) live on a clone as functions of the
weight; at apply time they produce patched copies of just the affected tensors, which replace the shared
ones for that call only (``torch.func.functional_call``), so the cached base model is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch.func import functional_call

from engine.device import AUTO, Devices
from engine.sampling.cfg import CfgFunction
from engine.sd.families import SD1, ModelFamily
from engine.sd.latent_format import LatentFormat
from engine.sd.materialize import compute_copy, is_on
from engine.sd.memory import module_bytes
from engine.sd.unet import Control, UNetModel

WeightPatch = Callable[[torch.Tensor], torch.Tensor]  # current weight (compute dtype) -> patched weight
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
UNetFn = Callable[..., torch.Tensor]


class ModelSampling(Protocol):
    def timestep(self, sigma: torch.Tensor) -> torch.Tensor: ...
    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...
    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...


class _SharedWeights:
    """The stored UNet and, once used, its copy in compute device/dtype; shared by all clones, as is the device
    policy the weights were read for."""

    def __init__(self, unet: UNetModel, devices: Devices) -> None:
        self.unet = unet
        self.devices = devices
        self.compute: UNetModel | None = None
        self.channels_last = False

    def storage_dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def get(self) -> UNetModel:
        device = self.devices.compute_device()
        dtype = self.devices.compute_dtype(self.storage_dtype(), device)
        if self.compute is None or not is_on(self.compute, device, dtype):
            self.compute = compute_copy(self.unet, device, dtype)
            if self.channels_last:
                self.compute.to(memory_format=torch.channels_last)
        return self.compute

    def memory_bytes(self) -> int:
        extra = self.compute if self.compute is not None and self.compute is not self.unet else None
        return module_bytes(self.unet) + (module_bytes(extra) if extra is not None else 0)


class DiffusionModel:
    def __init__(self, unet: UNetModel, model_sampling: ModelSampling, latent_format: LatentFormat,
                 family: ModelFamily = SD1, devices: Devices = AUTO) -> None:
        self.model_sampling = model_sampling
        self.latent_format = latent_format
        self.family = family  # what the UNet's extra inputs are and how it is saved (``family.name``: "sd1" ...)
        self.cfg_function: CfgFunction | None = None  # how guidance combines cond and uncond (None: plain CFG)
        self.patches: dict[str, list[WeightPatch]] = {}
        self.file_dtype: torch.dtype | None = None  # the dtype its weights had in their file; saving writes that
        self._weights = _SharedWeights(unet, devices)
        self._patched: tuple[UNetModel, dict[str, torch.Tensor]] | None = None  # (compute unet, its patches)

    @property
    def unet(self) -> UNetModel:
        return self._weights.unet

    @property
    def devices(self) -> Devices:
        """Where and in which dtype this model computes (kept by clones)."""
        return self._weights.devices

    def clone(self) -> DiffusionModel:
        """A model sharing this one's weights and schedule, with its own copy of the patch lists."""
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        other._patched = None
        return other

    def add_patch(self, key: str, patch: WeightPatch) -> None:
        """Queue ``patch`` for the UNet weight ``key`` (a ``state_dict`` key, e.g. ``out.2.weight``)."""
        if key not in self.unet.state_dict():
            raise KeyError(f"the UNet has no weight named {key!r}")
        self.patches.setdefault(key, []).append(patch)
        self._patched = None

    def set_channels_last(self, enabled: bool = True) -> None:
        """Run convolutions in NHWC layout (faster on some CPUs); affects every clone."""
        self._weights.channels_last = enabled
        self._weights.compute = None

    def memory_bytes(self) -> int:
        patched = sum(t.numel() * t.element_size() for t in self._patched[1].values()) if self._patched else 0
        return self._weights.memory_bytes() + patched

    def _patched_weights(self, unet: UNetModel) -> dict[str, torch.Tensor]:
        if not self.patches:
            return {}
        if self._patched is None or self._patched[0] is not unet:
            current = unet.state_dict()
            weights = {}
            for key, patch_list in self.patches.items():
                weight = current[key]
                for patch in patch_list:
                    weight = patch(weight).to(current[key].dtype)
                weights[key] = weight
            self._patched = (unet, weights)
        return self._patched[1]

    def patched_state_dict(self) -> dict[str, torch.Tensor]:
        """The UNet's weights as this clone sees them (patches applied), e.g. to save a merged checkpoint. Patches
        run in float32 on fp8-stored weights, which have no arithmetic on the CPU."""
        weights = dict(self.unet.state_dict())
        for key, patch_list in self.patches.items():
            stored = weights[key].dtype
            weight = weights[key].float() if stored in FP8 else weights[key]
            for patch in patch_list:
                weight = patch(weight).to(weight.dtype)
            weights[key] = weight.to(stored)
        return weights

    @contextmanager
    def patched_unet(self) -> Iterator[UNetFn]:
        """The compute-ready UNet as a function, with this clone's patches applied to copies of its weights."""
        unet = self._weights.get()
        weights = self._patched_weights(unet)
        if not weights:
            yield unet
            return

        def run(*args: Any, **kwargs: Any) -> torch.Tensor:
            return functional_call(unet, weights, args, kwargs, strict=False)

        yield run

    @property
    def is_inpainting(self) -> bool:
        """A UNet with extra input channels for a mask and a masked image (ComfyUI: ``concat_keys``)."""
        return self.family.takes_inpainting_channels(self.unet.config)

    def extra_inputs(self, options: dict[str, Any], latent_image: torch.Tensor, denoise_mask: torch.Tensor | None,
                     negative: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(``y``, ``concat``) for one conditioning entry over a full latent [B,C,h,w] (model space): SDXL's size
        vector and inpainting models' channels, as the family builds them (``engine.sd.model_inputs``)."""
        return self.family.extra_inputs(self.unet.config, options, latent_image, denoise_mask, negative)

    def apply(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        context: torch.Tensor,
        y: torch.Tensor | None = None,
        control: Control | None = None,
        concat: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoised prediction x0 for ``x`` [B,C,h,w] (model space) at noise level ``sigma`` [B]; ``concat`` holds
        extra input channels (inpainting models), appended after scaling."""
        ms = self.model_sampling
        sigma = sigma.to(x.device).expand(x.shape[0]) if sigma.ndim == 0 else sigma.to(x.device)
        x_in = ms.calculate_input(sigma, x)
        if concat is not None:
            x_in = torch.cat([x_in, concat.to(x_in)], dim=1)
        t = ms.timestep(sigma)
        with self.patched_unet() as unet, torch.no_grad():
            param = next(self.unet.parameters())
            device = self.devices.compute_device()
            dtype = self.devices.compute_dtype(param.dtype, device)
            out = unet(
                x_in.to(device, dtype),
                t.to(device),
                context.to(device, dtype),
                y=None if y is None else y.to(device, dtype),
                control=control,
            )
        return ms.calculate_denoised(sigma, out.to(x.device, x.dtype), x)
