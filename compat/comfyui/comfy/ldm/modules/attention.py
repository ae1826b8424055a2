"""ComfyUI's ``comfy.ldm.modules.attention``: the SD UNet's attention, as views of ``engine.sd.attention``.

- ``optimized_attention``, ``optimized_attention_masked``, ``attention_pytorch``, ``attention_basic`` (and the
  other backends' names) are Atelier's ``attention`` with ComfyUI's arguments: ``[B, N, heads*d]`` tensors, or
  ``[B, heads, N, d]`` with ``skip_reshape``; an optional mask.
- ``wrap_attn`` honours ``transformer_options["optimized_attention_override"]`` as ComfyUI's does.
- ``CrossAttention``, ``BasicTransformerBlock``, ``SpatialTransformer``, ``FeedForward``, ``GEGLU`` are Atelier's
  classes (``isinstance`` and subclassing work; their constructors take Atelier's arguments).

Partial: ``attn_precision`` is ignored (Atelier computes attention in the tensors' dtype); Atelier's UNet calls its
own ``attention``, so replacing this module's functions does not change how it attends; ``SpatialVideoTransformer``
(video UNets) is a stand-in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from compat.stand_ins import unsupported_class
from engine.sd import attention as engine
from engine.sd.attention import GEGLU, BasicTransformerBlock, CrossAttention, FeedForward, SpatialTransformer

__all__ = ["BasicTransformerBlock", "CrossAttention", "FeedForward", "GEGLU", "SpatialTransformer",
           "SpatialVideoTransformer", "attention_basic", "attention_pytorch", "optimized_attention",
           "optimized_attention_masked", "optimized_attention_for_device", "wrap_attn"]

SpatialVideoTransformer = unsupported_class(__name__, "SpatialVideoTransformer", "video UNets (SVD)",
                                            (SpatialTransformer,))


def wrap_attn(func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """An attention function that defers to ``transformer_options["optimized_attention_override"]`` when the
    caller's transformer options carry one (called as ``override(func, *args, **kwargs)``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> torch.Tensor:
        if kwargs.pop("_inside_attn_wrapper", False):
            return func(*args, **kwargs)
        override = (kwargs.get("transformer_options") or {}).get("optimized_attention_override")
        if override is not None:
            return override(func, *args, _inside_attn_wrapper=True, **kwargs)
        return func(*args, **kwargs)

    return wrapper


@wrap_attn
def attention_pytorch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None,
                      attn_precision: Any = None, skip_reshape: bool = False, skip_output_reshape: bool = False,
                      **kwargs: Any) -> torch.Tensor:
    """Atelier's attention (``engine.sd.attention.attention``) in ComfyUI's calling convention."""
    if skip_reshape:  # [B, heads, N, d] -> [B, N, heads*d]
        q, k, v = (t.transpose(1, 2).flatten(2) for t in (q, k, v))
    if mask is not None and mask.ndim == 2:
        mask = mask.unsqueeze(0)
    out = engine.attention(q, k, v, heads, mask)
    if skip_output_reshape:  # [B, N, heads*d] -> [B, heads, N, d]
        b, n, inner = out.shape
        out = out.reshape(b, n, heads, inner // heads).transpose(1, 2)
    return out


attention_basic = attention_split = attention_sub_quad = attention_pytorch
optimized_attention = optimized_attention_masked = attention_pytorch


def optimized_attention_for_device(device: Any = None, mask: bool = False, small_input: bool = False) -> Callable:
    return attention_pytorch
