"""Classifier-free guidance over ComfyUI-style conditioning lists, as one denoiser for the samplers.

Each conditioning entry is ``[cond [1, tokens, dim], options]``; options may restrict it to an ``area``
(h, w, y, x in latent units) or a ``mask``, weight it (``strength``), limit it to part of the schedule
(``start_percent``/``end_percent``) or carry a ControlNet (``control``). At every step all active entries of
the positive and negative lists run through the model in as few batched calls as their shapes allow (usually
one call with cond and uncond together), each prediction is spread over its area, and overlapping predictions
are averaged by weight. Guidance then mixes the two: ``uncond + cfg * (cond - uncond)``. Models that take more
than the text (SDXL's size vector ``y``, inpainting models' extra channels) get them from ``model.extra_inputs``,
built once per entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.conditioning import Conditioning
from engine.device import AUTO
from engine.sampling.cfg import plain_cfg

FEATHER = 8  # latent pixels over which an area's weight ramps up at edges inside the image


@dataclass
class _Entry:
    """One conditioning entry prepared for a step: where it applies and with which weight."""

    context: torch.Tensor
    area: tuple[int, int, int, int]  # h, w, y, x in latent units
    weight: torch.Tensor  # [1 or B, 1, h, w]
    options: dict[str, Any]
    negative: bool


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
    """The denoiser the samplers call: x, sigma[B] -> guided x0 (model space)."""

    def __init__(self, model: Any, positive: Conditioning, negative: Conditioning, cfg: float,
                 latent_image: torch.Tensor | None = None, denoise_mask: torch.Tensor | None = None) -> None:
        self.model = model
        self.positive = positive
        self.negative = negative if not math.isclose(cfg, 1.0) else []
        self.cfg = cfg
        self.latent_image = latent_image  # the start latent (model space), for inpainting models
        self.denoise_mask = denoise_mask
        self.calls = 0  # model calls, for tests and benchmarks
        self._extras: dict[tuple[int, bool], tuple[torch.Tensor | None, torch.Tensor | None]] = {}

    def _entries(self, x: torch.Tensor, sigma: float) -> list[_Entry]:
        entries = []
        percent_to_sigma = self.model.model_sampling.percent_to_sigma
        for negative, conditioning in ((False, self.positive), (True, self.negative)):
            for cond, options in conditioning:
                if not _active(options, sigma, percent_to_sigma):
                    continue
                area = _area(options, x.shape[-2], x.shape[-1])
                entries.append(_Entry(cond, area, _weight(options, area, x.shape), options, negative))
        return entries

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        entries = self._entries(x, float(sigma[0]))
        sums = {False: torch.zeros_like(x), True: torch.zeros_like(x)}
        counts = {False: torch.full_like(x, 1e-37), True: torch.full_like(x, 1e-37)}
        for group in self._groups(entries):
            for entry, prediction in zip(group, self._run(group, x, sigma), strict=True):
                h, w, y, xo = entry.area
                weight = entry.weight.to(x)
                sums[entry.negative][..., y:y + h, xo:xo + w] += prediction * weight
                counts[entry.negative][..., y:y + h, xo:xo + w] += weight
        cond = sums[False] / counts[False]
        if not self.negative:
            return cond
        uncond = sums[True] / counts[True]
        combine = getattr(self.model, "cfg_function", None) or plain_cfg
        return combine(x, sigma, cond, uncond, self.cfg)

    @staticmethod
    def _groups(entries: list[_Entry]) -> list[list[_Entry]]:
        """Entries that can share one model call: same area size and the same ControlNet."""
        groups: dict[tuple, list[_Entry]] = {}
        for entry in entries:
            key = (entry.area[0], entry.area[1], id(entry.options.get("control")))
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
        out = self.model.apply(x_in, sigmas, context, **kwargs)
        return list(out.split(batch))

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
        key = (id(entry.options), entry.negative)
        if key not in self._extras:
            extra_inputs = getattr(self.model, "extra_inputs", None)
            if extra_inputs is None:
                self._extras[key] = (None, None)
            else:
                latent = self.latent_image if self.latent_image is not None else torch.zeros_like(x)
                self._extras[key] = extra_inputs(entry.options, latent, self.denoise_mask, entry.negative)
        return self._extras[key]

    def _control(self, hint: Any, x_in: torch.Tensor, sigmas: torch.Tensor, context: torch.Tensor,
                 y: torch.Tensor | None) -> Any:
        if hint is None:
            return None
        ms = self.model.model_sampling
        return hint.residuals(ms.calculate_input(sigmas, x_in), ms.timestep(sigmas), context, float(sigmas[0]),
                              ms.percent_to_sigma, y, getattr(self.model, "devices", AUTO))
