"""Weight patches in ComfyUI's format, as functions of a weight (``engine.sd.model.WeightPatch``).

ComfyUI keeps, for each weight, a list of ``(strength_patch, value, strength_model, offset, function)`` entries;
``value`` is one of: a 1-tuple or ``("diff", (tensor,))`` (added), ``("set", (tensor,))`` (replaces),
``("lora", (up, down, alpha, mid, dora_scale, reshape))`` (a low-rank update, optionally DoRA), a list
``[(weight, convert), *entries]`` (another model's weight with its own patches: model merging), or an object with
``delta(shape)`` (``engine.lora.WeightUpdate``: LoRA/LoHa/LoKr read from a file). ``offset`` is
``(dim, start, length)``: the entry patches that slice only. ``function`` is applied to the change before it is
added. ``apply_entries`` is ComfyUI's ``calculate_weight``; ``EntryPatch`` is one entry as a weight patch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

Entry = tuple[float, Any, float, Any, Any]  # (strength_patch, value, strength_model, offset, function)


@dataclass(frozen=True, eq=False)
class EntryPatch:
    """One ComfyUI patch entry as a function of the weight it patches (computed in float32). Equal only to itself
    (its entry holds tensors), so patch lists compare by the patches they share."""

    entry: Entry
    key: str = ""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return apply_entries([self.entry], weight.float(), self.key).to(weight.dtype)


def entry_of(patch: Callable[[torch.Tensor], torch.Tensor]) -> Entry:
    """ComfyUI's entry for a weight patch: its own for ``EntryPatch``, otherwise the function as the value
    (``apply_entries`` calls a callable value on the weight)."""
    return patch.entry if isinstance(patch, EntryPatch) else (1.0, patch, 1.0, None, None)


def apply_entries(entries: list[Any], weight: torch.Tensor, key: str = "") -> torch.Tensor:
    """``weight`` with ``entries`` applied in order (ComfyUI's ``calculate_weight``); returns a new tensor."""
    weight = weight.clone()
    for strength, value, strength_model, offset, function in entries:
        function = function or (lambda change: change)
        target = weight.narrow(*offset) if offset is not None else weight
        patched = _apply_one(target * strength_model if strength_model != 1.0 else target.clone(), value, strength,
                             function, key)
        if offset is not None:
            weight.narrow(*offset).copy_(patched)
        else:
            weight = patched
    return weight


def _apply_one(weight: torch.Tensor, value: Any, strength: float, function: Callable, key: str) -> torch.Tensor:
    if isinstance(value, list):  # another model's weight, itself patched: merged in as a diff
        (base, convert), *nested = value
        merged = apply_entries(nested, convert(base.to(weight.device, torch.float32).clone()), key)
        value = (merged,)
    if callable(value) and not isinstance(value, tuple):
        return value(weight)
    if hasattr(value, "delta"):  # engine.lora.WeightUpdate
        return weight + function(strength * value.delta(weight.shape).to(weight))
    kind, data = ("diff", value) if len(value) == 1 else value
    if kind == "diff":
        diff = data[0].to(weight)
        if diff.shape != weight.shape:
            log.warning("patch for %s not applied: its shape %s is not the weight's %s", key, tuple(diff.shape),
                        tuple(weight.shape))
            return weight
        return weight + function(strength * diff) if strength != 0.0 else weight
    if kind == "set":
        return data[0].to(weight).clone()
    if kind == "lora":
        return _lora(weight, data, strength, function)
    raise NotImplementedError(f"weight patch kind {kind!r} (for {key}) is not supported by Atelier")


def _lora(weight: torch.Tensor, data: tuple, strength: float, function: Callable) -> torch.Tensor:
    up, down, alpha, mid, dora_scale, reshape = (*data, None, None, None, None)[:6]
    if reshape is not None:
        weight = _padded(weight, reshape)
    up, down = up.to(weight), down.to(weight)
    scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
    if mid is not None:  # LoCon's Tucker core: (rank, rank, kh, kw) between down and up
        change = torch.einsum("ijkl,jr,pi->prkl", mid.to(weight), down.flatten(1), up.flatten(1))
    else:
        change = up.flatten(1) @ down.flatten(1)
    change = change.reshape(weight.shape)
    if dora_scale is None:
        return weight + function(strength * scale * change)
    return _dora(weight, change * scale, dora_scale.to(weight), strength, function)


def _dora(weight: torch.Tensor, change: torch.Tensor, dora_scale: torch.Tensor, strength: float,
          function: Callable) -> torch.Tensor:
    """DoRA: the updated weight's direction with the magnitude ``dora_scale``, blended in by ``strength``."""
    updated = weight + function(change)
    if dora_scale.shape[0] == updated.shape[0]:  # magnitude per output channel
        norm = weight.reshape(weight.shape[0], -1).norm(dim=1).reshape(-1, *[1] * (weight.ndim - 1))
    else:  # magnitude per input channel
        norm = updated.transpose(0, 1).reshape(updated.shape[1], -1).norm(dim=1)
        norm = norm.reshape(-1, *[1] * (weight.ndim - 1)).transpose(0, 1)
    updated = updated * (dora_scale / (norm + torch.finfo(weight.dtype).eps))
    return weight + strength * (updated - weight)


def _padded(weight: torch.Tensor, shape: Any) -> torch.Tensor:
    padded = torch.zeros(tuple(shape), dtype=weight.dtype, device=weight.device)
    padded[tuple(slice(0, n) for n in weight.shape)] = weight
    return padded
