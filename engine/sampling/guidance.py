"""Classifier-free guidance over ComfyUI-style conditioning lists, as one denoiser for the samplers.

Each conditioning entry is ``[cond [1, tokens, dim], options]``; options may restrict it to an ``area``
(h, w, y, x in latent units) or a ``mask``, weight it (``strength``), limit it to part of the schedule
(``start_percent``/``end_percent``) or carry a ControlNet (``control``). At every step all active entries of
the positive and negative lists run through the model in as few batched calls as their shapes allow (usually
one call with cond and uncond together), each prediction is spread over its area, and overlapping predictions
are averaged by weight. Guidance then mixes the two: ``uncond + cfg * (cond - uncond)``, or as the model's
options say (``engine.sampling.cfg.combine``). Models that take more than the text (SDXL's size vector ``y``,
inpainting models' extra channels) get them from ``model.extra_inputs``, built once per entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.conditioning import Conditioning
from engine.device import AUTO
from engine.sampling.cfg import combine
from engine.sd.gligen import gligen_patch, negative_with_boxes
from engine.sd.model_options import refuse
from engine.sd.model_options import unsupported as model_options_unsupported

FEATHER = 8  # latent pixels over which an area's weight ramps up at edges inside the image


@dataclass
class _Entry:
    """One conditioning entry prepared for a step: where it applies and with which weight."""

    context: torch.Tensor
    area: tuple[int, int, int, int]  # h, w, y, x in latent units
    weight: torch.Tensor  # [1 or B, 1, h, w]
    options: dict[str, Any]
    index: int  # which conditioning list it belongs to: 0 positive, 1 negative (ComfyUI's cond_or_uncond)

    @property
    def negative(self) -> bool:
        return self.index == 1


def _area(options: dict[str, Any], height: int, width: int) -> tuple[int, int, int, int]:
    area = options.get("area")
    if area is None or len(area) not in (4, 5):
        return height, width, 0, 0
    if area[0] == "percentage":  # ConditioningSetAreaPercentage: fractions of the latent
        h, w = max(1, round(area[1] * height)), max(1, round(area[2] * width))
        y, x = round(area[3] * height), round(area[4] * width)
    else:
        h, w, y, x = (int(v) for v in area)
    y, x = min(y, height - 1), min(x, width - 1)
    return max(1, min(h, height - y)), max(1, min(w, width - x)), y, x


def _weight(options: dict[str, Any], area: tuple[int, int, int, int], shape: torch.Size) -> torch.Tensor:
    h, w, y, x = area
    weight = torch.full((1, 1, h, w), float(options.get("strength", 1.0)))
    mask = options.get("mask")
    if mask is not None:
        mask = mask.float().reshape(-1, 1, *mask.shape[-2:])
        mask = F.interpolate(mask, size=shape[-2:], mode="bilinear", align_corners=False)[..., y:y + h, x:x + w]
        weight = weight * mask * float(options.get("mask_strength", 1.0))
    if "area" in options:
        ramp = torch.linspace(0.1, 1.0, FEATHER)
        edges = {"top": y > 0, "bottom": y + h < shape[-2], "left": x > 0, "right": x + w < shape[-1]}
        for side, inside in edges.items():
            n = min(FEATHER, h if side in ("top", "bottom") else w)
            if not inside or n < 2:
                continue
            values = ramp[-n:] if n < FEATHER else ramp
            if side == "top":
                weight[..., :n, :] *= values[:, None]
            elif side == "bottom":
                weight[..., -n:, :] *= values.flip(0)[:, None]
            elif side == "left":
                weight[..., :, :n] *= values
            else:
                weight[..., :, -n:] *= values.flip(0)
    return weight


def _active(options: dict[str, Any], sigma: float, percent_to_sigma: Any) -> bool:
    start = percent_to_sigma(float(options.get("start_percent", 0.0)))
    end = percent_to_sigma(float(options.get("end_percent", 1.0)))
    return end <= sigma <= start


def _pad_tokens(contexts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Repeat shorter token sequences to a common length; attention over repeated keys is unchanged."""
    lengths = [c.shape[1] for c in contexts]
    target = math.lcm(*lengths)
    return [c.repeat(1, target // c.shape[1], 1) for c in contexts]


class GuidedDenoiser:
    """The denoiser the samplers call: x, sigma[B] -> guided x0 (model space).

    The model's ``model_options`` (``engine.sd.model_options``) are honoured as ComfyUI honours them: pre-CFG,
    CFG and post-CFG functions, the UNet function wrapper, the UNet's block patches and its attention patches and
    replacements (which see this call's ``cond_or_uncond`` and ``sigmas``); a model carrying patches Atelier
    cannot honour is refused here, before any step runs."""

    def __init__(self, model: Any, positive: Conditioning, negative: Conditioning | None, cfg: float,
                 latent_image: torch.Tensor | None = None, denoise_mask: torch.Tensor | None = None,
                 model_options: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.model = model
        self.seed = seed  # the sampler's seed: unCLIP draws its image-embedding noise from it, as ComfyUI does
        self.model_options = model_options if model_options is not None else getattr(model, "model_options", {})
        _refuse_unsupported(model, self.model_options)
        skip_uncond = math.isclose(cfg, 1.0) and not self.model_options.get("disable_cfg1_optimization", False)
        self.positive = positive
        self.given_negative = negative  # for with_model_options: other options may need the negative at CFG 1
        self.negative = None if skip_uncond else negative_with_boxes(positive, negative or [])
        self.cfg = cfg
        self.latent_image = latent_image  # the start latent (model space), for inpainting models
        self.denoise_mask = denoise_mask
        self.calls = 0  # model calls, for tests and benchmarks
        self._extras: dict[tuple[int, int], tuple[torch.Tensor | None, torch.Tensor | None]] = {}

    @property
    def model_patcher(self) -> Any:
        """ComfyUI's guider name for the MODEL being sampled."""
        return self.model

    @property
    def inner_model(self) -> Any:
        """ComfyUI's guider name for the MODEL's ``BaseModel`` view (``model.model``), which ComfyUI's CFG
        functions get as ``args["model"]`` and its samplers reach as ``model.inner_model.inner_model``."""
        return getattr(self.model, "model", self.model)

    def with_model_options(self, model_options: dict[str, Any]) -> GuidedDenoiser:
        """The same guidance under other model options (ComfyUI's samplers pass their own: CFG++ adds a post-CFG
        function, ``engine.sampling.cfg_pp``)."""
        return GuidedDenoiser(self.model, self.positive, self.given_negative, self.cfg, self.latent_image,
                              self.denoise_mask, model_options, self.seed)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        conds = [self.positive, self.negative]
        cond, uncond = self.predictions(conds, x, sigma)
        for function in self.model_options.get("sampler_pre_cfg_function", []):
            cond, uncond = function({"conds": conds, "conds_out": [cond, uncond], "cond_scale": self.cfg,
                                     "timestep": sigma, "input": x, "sigma": sigma, "model": self.inner_model,
                                     "model_options": self.model_options})
        return combine(self.inner_model, x, sigma, cond, uncond, self.cfg, self.model_options,
                       (conds[0], conds[1]))

    def predictions(self, conds: list[Conditioning | None], x: torch.Tensor, sigma: torch.Tensor) -> list[torch.Tensor]:
        """The model's denoised prediction for each conditioning list, areas and masks averaged by weight; zeros
        for a list that is None (ComfyUI's ``calc_cond_batch``)."""
        entries = self._entries(conds, x, float(sigma[0]))
        sums = [torch.zeros_like(x) for _ in conds]
        counts = [torch.full_like(x, 1e-37) for _ in conds]
        for group in self._groups(entries):
            for entry, prediction in zip(group, self._run(group, x, sigma), strict=True):
                h, w, y, xo = entry.area
                weight = entry.weight.to(x)
                sums[entry.index][..., y:y + h, xo:xo + w] += prediction * weight
                counts[entry.index][..., y:y + h, xo:xo + w] += weight
        return [total / count for total, count in zip(sums, counts, strict=True)]

    def _entries(self, conds: list[Conditioning | None], x: torch.Tensor, sigma: float) -> list[_Entry]:
        entries = []
        percent_to_sigma = self.model.model_sampling.percent_to_sigma
        for index, conditioning in enumerate(conds):
            for cond, options in conditioning or []:
                if not _active(options, sigma, percent_to_sigma):
                    continue
                area = _area(options, x.shape[-2], x.shape[-1])
                entries.append(_Entry(cond, area, _weight(options, area, x.shape), options, index))
        return entries

    @staticmethod
    def _groups(entries: list[_Entry]) -> list[list[_Entry]]:
        """Entries that can share one model call: same area size, the same ControlNet and the same GLIGEN boxes."""
        groups: dict[tuple, list[_Entry]] = {}
        for entry in entries:
            key = (entry.area[0], entry.area[1], id(entry.options.get("control")), id(entry.options.get("gligen")))
            groups.setdefault(key, []).append(entry)
        return list(groups.values())

    def _run(self, group: list[_Entry], x: torch.Tensor, sigma: torch.Tensor) -> list[torch.Tensor]:
        batch = x.shape[0]
        crops = [x[..., y:y + h, xo:xo + w] for h, w, y, xo in (e.area for e in group)]
        contexts = _pad_tokens([e.context.to(x) for e in group])
        x_in = torch.cat(crops)
        context = torch.cat([c.expand(batch, -1, -1) if c.shape[0] == 1 else c for c in contexts])
        sigmas = sigma.repeat(len(group))
        kwargs = self._extra_kwargs(group, x)
        kwargs["control"] = self._control(group[0].options.get("control"), x_in, sigmas, context, kwargs.get("y"))
        self.calls += 1
        gligen = gligen_patch(group[0].options, x.shape[-2], x.shape[-1])
        out = self._apply(x_in, sigmas, context, kwargs, [entry.index for entry in group], gligen)
        return list(out.split(batch))

    def _apply(self, x_in: torch.Tensor, sigmas: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any],
               cond_or_uncond: list[int], middle_patch: Any = None) -> torch.Tensor:
        """One model call, through the model options' UNet function wrapper when there is one (ComfyUI's
        arguments: ``apply_model`` and ``{"input", "timestep", "c", "cond_or_uncond"}``); ``middle_patch`` (GLIGEN's
        boxes) is added to the model's middle patches for this call, as ComfyUI adds a conditioning's patches."""
        if not hasattr(self.model, "apply_model"):  # a bare denoiser (tests): no ComfyUI options to honour
            return self.model.apply(x_in, sigmas, context, **kwargs)
        transformer_options = {**self.model_options.get("transformer_options", {}),
                               "cond_or_uncond": cond_or_uncond, "sigmas": sigmas}
        if middle_patch is not None:
            patches = dict(transformer_options.get("patches") or {})
            patches["middle_patch"] = [*patches.get("middle_patch", []), middle_patch]
            transformer_options["patches"] = patches
        c = {"c_crossattn": context, "c_concat": kwargs.get("concat"), "control": kwargs.get("control"),
             "transformer_options": transformer_options}
        if kwargs.get("y") is not None:
            c["y"] = kwargs["y"]
        wrapper = self.model_options.get("model_function_wrapper")
        if wrapper is None:
            return self.model.apply_model(x_in, sigmas, **c)
        return wrapper(self.model.apply_model, {"input": x_in, "timestep": sigmas, "c": c,
                                                "cond_or_uncond": cond_or_uncond})

    def _extra_kwargs(self, group: list[_Entry], x: torch.Tensor) -> dict[str, Any]:
        """``y`` and ``concat`` for one batched call: each entry's, repeated to the batch and cropped to its area."""
        extras = [self._extra_inputs(entry, x) for entry in group]
        kwargs: dict[str, Any] = {}
        if any(y is not None for y, _ in extras):
            kwargs["y"] = torch.cat([y.expand(x.shape[0], -1) if y.shape[0] == 1 else y for y, _ in extras])
        if any(concat is not None for _, concat in extras):
            kwargs["concat"] = torch.cat([concat[..., top:top + h, left:left + w]
                                          for (_, concat), (h, w, top, left) in zip(extras, (e.area for e in group),
                                                                                    strict=True)])
        return kwargs

    def _extra_inputs(self, entry: _Entry, x: torch.Tensor) -> tuple[Any, Any]:
        key = (id(entry.options), entry.index)
        if key not in self._extras:
            extra_inputs = getattr(self.model, "extra_inputs", None)
            if extra_inputs is None:
                self._extras[key] = (None, None)
            else:
                latent = self.latent_image if self.latent_image is not None else torch.zeros_like(x)
                self._extras[key] = extra_inputs(entry.options, latent, self.denoise_mask, entry.negative, self.seed)
        return self._extras[key]

    def _control(self, hint: Any, x_in: torch.Tensor, sigmas: torch.Tensor, context: torch.Tensor,
                 y: torch.Tensor | None) -> Any:
        if hint is None:
            return None
        ms = self.model.model_sampling
        return hint.residuals(ms.calculate_input(sigmas, x_in), ms.timestep(sigmas), context, float(sigmas[0]),
                              ms.percent_to_sigma, y, getattr(self.model, "devices", AUTO))


def _refuse_unsupported(model: Any, model_options: dict[str, Any]) -> None:
    unsupported = getattr(model, "unsupported_patches", None)
    missing = unsupported() if unsupported is not None else []
    refuse(missing + [item for item in model_options_unsupported(model_options) if item not in missing])
