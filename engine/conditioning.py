"""Arithmetic on CONDITIONING, a list of ``[cond [1, tokens, width], options]`` pairs whose options may hold a
``pooled_output``: blending, joining token sequences and zeroing (ComfyUI's formulas)."""

from __future__ import annotations

from typing import Any

import torch

Conditioning = list[list[Any]]


def _match_tokens(cond: torch.Tensor, tokens: int) -> torch.Tensor:
    """``cond`` cut or zero-padded to ``tokens`` tokens."""
    cond = cond[:, :tokens]
    if cond.shape[1] < tokens:
        padding = torch.zeros(cond.shape[0], tokens - cond.shape[1], cond.shape[2], dtype=cond.dtype)
        cond = torch.cat([cond, padding], dim=1)
    return cond


def average(to: Conditioning, source: Conditioning, to_strength: float) -> Conditioning:
    """Each entry of ``to`` blended with the first of ``source`` (``to * s + source * (1 - s)``), tokens matched
    to ``to``'s count; pooled outputs blend alike, and an entry without one takes ``source``'s (ComfyUI's rule)."""
    source_cond, source_options = source[0]
    source_pooled = source_options.get("pooled_output")
    out = []
    for cond, options in to:
        blended = cond * to_strength + _match_tokens(source_cond, cond.shape[1]) * (1 - to_strength)
        extras = dict(options)
        to_pooled = options.get("pooled_output")
        if source_pooled is not None:
            extras["pooled_output"] = source_pooled if to_pooled is None else \
                to_pooled * to_strength + source_pooled * (1 - to_strength)
        out.append([blended, extras])
    return out


def concat(to: Conditioning, source: Conditioning) -> Conditioning:
    """The tokens of ``source``'s first entry appended to each entry of ``to``."""
    source_cond = source[0][0]
    return [[torch.cat([cond, source_cond], dim=1), dict(options)] for cond, options in to]


def zero_out(conditioning: Conditioning) -> Conditioning:
    """Every tensor, pooled output included, replaced by zeros of its shape."""
    out = []
    for cond, options in conditioning:
        extras = dict(options)
        if options.get("pooled_output") is not None:
            extras["pooled_output"] = torch.zeros_like(options["pooled_output"])
        out.append([torch.zeros_like(cond), extras])
    return out


def set_values(conditioning: Conditioning, values: dict[str, Any], append: bool = False) -> Conditioning:
    """Each entry with ``values`` set in its options (tensors shared, not copied); with ``append`` a value already
    there is extended (``old + new``), as ComfyUI's ``conditioning_set_values`` does for lists of hints."""
    out = []
    for cond, options in conditioning:
        extras = dict(options)
        for key, value in values.items():
            old = extras.get(key) if append else None
            extras[key] = value if old is None else old + value
        out.append([cond, extras])
    return out
