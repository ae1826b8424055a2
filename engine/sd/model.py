"""The MODEL value: a UNet plus its noise schedule, turning noisy latents into denoised predictions.

Clones share the loaded weights. Weight patches (LoRA and friends) live on a clone as functions of the
weight; at apply time they produce patched copies of just the affected tensors, which replace the shared
ones for that call only (``torch.func.functional_call``), so the cached base model is never modified.

The class also answers ComfyUI's ``ModelPatcher`` names (``comfy.model_patcher.ModelPatcher`` is this class), the
API plug-ins use on a MODEL: sampling options (``model_options``, ``engine.sd.model_options``), weight patches in
ComfyUI's format (``add_patches``, ``engine.sd.weight_patches``), object patches and the ``model`` view
(``engine.sd.base_model``).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch.func import functional_call

from engine.device import AUTO, Devices
from engine.sampling.cfg import CfgFunction, as_sampler_cfg_function
from engine.sd import model_options as options
from engine.sd.base_model import BaseModel, base_model_view
from engine.sd.families import SD1, ModelFamily
from engine.sd.latent_format import LatentFormat
from engine.sd.materialize import compute_copy, is_on
from engine.sd.memory import module_bytes
from engine.sd.unet import Control, UNetModel
from engine.sd.weight_patches import EntryPatch, entry_of

WeightPatch = Callable[[torch.Tensor], torch.Tensor]  # current weight (compute dtype) -> patched weight
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
UNetFn = Callable[..., torch.Tensor]
UNET_PREFIX = "diffusion_model."  # ComfyUI's name for the UNet's weights inside a MODEL


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
        self.patches: dict[str, list[WeightPatch]] = {}
        self.model_options: options.ModelOptions = options.new_model_options()  # ComfyUI's sampling options
        self.object_patches: dict[str, Any] = {}  # ComfyUI's add_object_patch: name -> replacement
        self.parent: DiffusionModel | None = None  # the model this one was cloned from
        self.file_dtype: torch.dtype | None = None  # the dtype its weights had in their file; saving writes that
        self._weights = _SharedWeights(unet, devices)
        self._patched: tuple[UNetModel, dict[str, torch.Tensor]] | None = None  # (compute unet, its patches)
        self._view: BaseModel | None = None

    @property
    def unet(self) -> UNetModel:
        return self._weights.unet

    @property
    def devices(self) -> Devices:
        """Where and in which dtype this model computes (kept by clones)."""
        return self._weights.devices

    @property
    def cfg_function(self) -> CfgFunction | None:
        """How guidance combines cond and uncond (None: plain CFG), as an engine function; stored in
        ``model_options["sampler_cfg_function"]``, the one slot ComfyUI's ``set_model_sampler_cfg_function`` sets."""
        function = self.model_options.get("sampler_cfg_function")
        return getattr(function, "engine_function", None)

    @cfg_function.setter
    def cfg_function(self, function: CfgFunction | None) -> None:
        if function is None:
            self.model_options.pop("sampler_cfg_function", None)
        else:
            self.model_options["sampler_cfg_function"] = as_sampler_cfg_function(function)

    def clone(self) -> DiffusionModel:
        """A model sharing this one's weights and schedule, with its own copy of the patch lists and options."""
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        other.model_options = options.copy_nested(self.model_options)
        other.object_patches = dict(self.object_patches)
        other.parent = self
        other._patched = None
        other._view = None
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
                     negative: bool, seed: int = 0) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(``y``, ``concat``) for one conditioning entry over a full latent [B,C,h,w] (model space): SDXL's size
        vector, unCLIP's image embedding (noised from the sampler's ``seed``) and inpainting models' channels, as
        the family builds them (``engine.sd.model_inputs``, ``engine.sd.unclip``)."""
        return self.family.extra_inputs(self.unet.config, options, latent_image, denoise_mask, negative, seed)

    def apply(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        context: torch.Tensor,
        y: torch.Tensor | None = None,
        control: Control | None = None,
        concat: torch.Tensor | None = None,
        transformer_options: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """Denoised prediction x0 for ``x`` [B,C,h,w] (model space) at noise level ``sigma`` [B]; ``concat`` holds
        extra input channels (inpainting models), appended after scaling; ``transformer_options`` is ComfyUI's
        (its ``patches`` reach the UNet's hook points; this model's own options when None)."""
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
                transformer_options=self._transformer_options(transformer_options, sigma),
            )
        return ms.calculate_denoised(sigma, out.to(x.device, x.dtype), x)

    def _transformer_options(self, given: dict[str, Any] | None, sigma: torch.Tensor) -> dict[str, Any]:
        """What the UNet's hook points see: a per-call copy, so hooks may write into it as ComfyUI's do."""
        transformer_options = dict(self.model_options.get("transformer_options", {}) if given is None else given)
        transformer_options.setdefault("sigmas", sigma)
        return transformer_options

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, c_concat: torch.Tensor | None = None,
                    c_crossattn: torch.Tensor | None = None, control: Control | None = None,
                    transformer_options: dict[str, Any] | None = None, y: torch.Tensor | None = None,
                    **kwargs: Any) -> torch.Tensor:
        """ComfyUI's ``BaseModel.apply_model`` (what a ``model_function_wrapper`` is handed): ``apply`` with
        ComfyUI's argument names; ``t`` is sigma."""
        if c_crossattn is None:
            raise ValueError("apply_model needs c_crossattn (the text conditioning)")
        return self.apply(x, t, c_crossattn, y=y, control=control, concat=c_concat,
                          transformer_options=transformer_options)

    # ComfyUI's ModelPatcher names (plug-ins call these on a MODEL).

    @property
    def model(self) -> BaseModel:
        """ComfyUI's ``ModelPatcher.model``: ``model_sampling``, ``latent_format``, ``diffusion_model``..."""
        if self._view is None:
            self._view = base_model_view(self)
        return self._view

    @property
    def load_device(self) -> torch.device:
        return self.devices.compute_device()

    @property
    def offload_device(self) -> torch.device:
        return self.devices.offload_device()

    @property
    def size(self) -> int:
        return self.model_size()

    def is_clone(self, other: Any) -> bool:
        """Whether ``other`` shares this model's weights (one is a clone of the other, or both of a third)."""
        return getattr(other, "_weights", None) is self._weights

    def clone_has_same_weights(self, other: Any) -> bool:
        return self.is_clone(other) and self.patches == other.patches

    def model_size(self) -> int:
        return module_bytes(self.unet)

    def loaded_size(self) -> int:
        return self._weights.memory_bytes()

    def model_dtype(self) -> torch.dtype:
        return self._weights.storage_dtype()

    def current_loaded_device(self) -> torch.device:
        compute = self._weights.compute
        return next((compute or self.unet).parameters()).device

    def memory_required(self, input_shape: Any) -> int:
        """A rough estimate of the working memory one UNet call over a latent batch of ``input_shape`` needs
        (activations grow with batch x pixels)."""
        area = input_shape[0] * math.prod(input_shape[2:])
        element = torch.empty((), dtype=self.devices.compute_dtype(self.model_dtype())).element_size()
        return int(area * element * 0.02 * 1024 * 1024)

    def patch_model(self, device_to: Any = None, *args: Any, **kwargs: Any) -> BaseModel:
        """ComfyUI writes patched weights into the model here; Atelier never modifies shared weights, it applies
        patches to copies while sampling, so this only makes the compute copy ready. ``model.diffusion_model``
        stays unpatched."""
        self._weights.get()
        return self.model

    def unpatch_model(self, device_to: Any = None, unpatch_weights: bool = True) -> None:
        """Nothing to undo (see ``patch_model``)."""

    def model_patches_to(self, device: Any) -> None:
        """ComfyUI moves patch objects with a ``to`` method to the compute device; Atelier's run where they are."""

    def model_patches_models(self) -> list[Any]:
        return []

    def set_model_sampler_cfg_function(self, function: Callable, disable_cfg1_optimization: bool = False) -> None:
        """ComfyUI's cfg function ``fn(args) -> input - guided`` (or the old ``fn(cond, uncond, cond_scale)``)."""
        if len(_parameters(function)) == 3:
            self.model_options["sampler_cfg_function"] = \
                lambda args: function(args["cond"], args["uncond"], args["cond_scale"])
        else:
            self.model_options["sampler_cfg_function"] = function
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(self, function: Callable, disable_cfg1_optimization: bool = False) -> None:
        options.add_sampler_function(self.model_options, "sampler_post_cfg_function", function,
                                     disable_cfg1_optimization)

    def set_model_sampler_pre_cfg_function(self, function: Callable, disable_cfg1_optimization: bool = False) -> None:
        options.add_sampler_function(self.model_options, "sampler_pre_cfg_function", function,
                                     disable_cfg1_optimization)

    def set_model_sampler_calc_cond_batch_function(self, function: Callable) -> None:
        """Recorded; sampling such a model raises NotImplementedError (Atelier batches conds its own way)."""
        self.model_options["sampler_calc_cond_batch_function"] = function

    def set_model_unet_function_wrapper(self, function: Callable) -> None:
        self.model_options["model_function_wrapper"] = function

    def set_model_denoise_mask_function(self, function: Callable) -> None:
        self.model_options["denoise_mask_function"] = function

    def set_model_patch(self, patch: Any, name: str) -> None:
        options.add_patch(self.model_options, name, patch)

    def set_model_patch_replace(self, patch: Any, name: str, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        options.add_replace_patch(self.model_options, name, patch, block_name, number, transformer_index)

    def set_model_attn1_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn1", block_name, number, transformer_index)

    def set_model_attn2_replace(self, patch: Any, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn2", block_name, number, transformer_index)

    def set_model_attn1_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_input_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch")

    def set_model_input_block_patch_after_skip(self, patch: Any) -> None:
        self.set_model_patch(patch, "input_block_patch_after_skip")

    def set_model_output_block_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "output_block_patch")

    def set_model_emb_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "emb_patch")

    def set_model_forward_timestep_embed_patch(self, patch: Any) -> None:
        self.set_model_patch(patch, "forward_timestep_embed_patch")

    def add_object_patch(self, name: str, obj: Any) -> None:
        """Replace the model's part ``name``: "model_sampling" becomes this model's schedule; others are recorded,
        and sampling a model carrying one raises NotImplementedError."""
        if name == "model_sampling":
            self.model_sampling = obj  # not recorded: a later schedule set by Atelier's nodes must win
            return
        self.object_patches[name] = obj

    def get_model_object(self, name: str) -> Any:
        """An object patch, or the part of ``model`` at the dotted path ``name`` ("model_sampling",
        "diffusion_model.input_blocks.0" ...)."""
        if name in self.object_patches:
            return self.object_patches[name]
        value: Any = self.model
        for part in name.split("."):
            value = getattr(value, part)
        return value

    def unsupported_patches(self) -> list[str]:
        """What this model carries that Atelier's sampler cannot honour (ComfyUI's names)."""
        objects = [f"object patch {name!r}" for name in self.object_patches]
        return objects + options.unsupported(self.model_options)

    def add_patches(self, patches: dict[Any, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[Any]:
        """Add weight patches in ComfyUI's format (``engine.sd.weight_patches``) keyed "diffusion_model.<UNet
        key>" or (key, offset[, function]); returns the keys this model has (the others are ignored, as
        ComfyUI does)."""
        weights = self.unet.state_dict()
        applied = []
        for name, value in patches.items():
            key, offset, function = (name, None, None) if isinstance(name, str) else (*name, None)[:3]
            unet_key = key[len(UNET_PREFIX):] if key.startswith(UNET_PREFIX) else None
            if unet_key not in weights:
                continue
            self.add_patch(unet_key, EntryPatch((strength_patch, value, strength_model, offset, function), key))
            applied.append(name)
        return applied

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, list[Any]]:
        """Each weight's ComfyUI patch list: ``[(weight, convert_func), *entries]`` (the stored weight first)."""
        def unchanged(weight: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return weight

        result = {}
        for key, weight in self.model_state_dict(filter_prefix).items():
            own = self.patches.get(key[len(UNET_PREFIX):], [])
            result[key] = [(weight, unchanged), *(entry_of(patch) for patch in own)]
        return result

    def model_state_dict(self, filter_prefix: str | None = None) -> dict[str, torch.Tensor]:
        """The stored UNet weights under ComfyUI's names ("diffusion_model.<key>"), unpatched."""
        weights = {UNET_PREFIX + key: value for key, value in self.unet.state_dict().items()}
        return {k: v for k, v in weights.items() if filter_prefix is None or k.startswith(filter_prefix)}


def _parameters(function: Callable) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []
