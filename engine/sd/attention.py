"""Cross-attention transformer blocks of the SD UNet (LDM names: ``proj_in``, ``transformer_blocks.N``...).

The transformer blocks honour ComfyUI's attention patch points, read from ``transformer_options`` (the dict the
UNet passes down; ``engine.sd.model_options.ATTENTION_PATCHES`` and ``ATTENTION_REPLACES``), with ComfyUI's
calling conventions:

- ``patches["attn1_patch"]`` / ``["attn2_patch"]``: ``p(n, context, value, extra_options) -> (n, context, value)``
  before self- / cross-attention (``n`` is the normed hidden state; for self-attention context and value start
  as ``n``, for cross-attention as the text context);
- ``patches_replace["attn1"]`` / ``["attn2"]``: ``{block key: r(q, k, v, extra_options) -> out}`` computing the
  attention itself from the projected ``q``, ``k``, ``v`` (``to_out`` is applied after); a key is
  ``(block kind, block id, index in the transformer)`` or, for every index, ``(block kind, block id)``;
- ``patches["attn1_output_patch"]`` / ``["attn2_output_patch"]``: ``p(out, extra_options) -> out`` before the
  residual add; ``patches["middle_patch"]``: ``p(x, extra_options) -> x`` between the two attentions.

``extra_options`` is ``transformer_options`` without its patches, plus ``n_heads``, ``dim_head`` and
``attn_precision`` (None: Atelier attends in the tensors' dtype). A block without such patches runs the plain path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.sd.model_options import ATTENTION_PATCHES, ATTENTION_REPLACES


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head attention of ``[B, N, heads*d]`` queries over ``[B, M, heads*d]`` keys/values.

    ``mask``: ``[N, M]``, ``[B, N, M]`` or ``[B, heads, N, M]``, boolean (True attends) or added to the scores.
    """
    b, n, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    if mask is not None and mask.ndim == 3:
        mask = mask.unsqueeze(1)  # the same mask for every head
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, n, inner)


class CrossAttention(nn.Module):
    """Attention with bias-free q/k/v projections; self-attention when no context is given."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                value: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` over ``context`` (``x`` itself when None); values from ``value`` when given."""
        context = x if context is None else context
        value = context if value is None else value
        out = attention(self.to_q(x), self.to_k(context), self.to_v(value), self.heads)
        return self.to_out(out)


class GEGLU(nn.Module):
    """Linear projection to twice the width, gated by GELU of the second half."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        inner = dim * mult
        self.net = nn.Sequential(GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


AttentionPatch = Callable[..., Any]


def has_attention_patches(transformer_options: dict[str, Any]) -> bool:
    """Whether ``transformer_options`` carries a patch or replacement the transformer blocks call."""
    patches = transformer_options.get("patches") or {}
    replaces = transformer_options.get("patches_replace") or {}
    return (any(patches.get(kind) for kind in ATTENTION_PATCHES)
            or any(replaces.get(kind) for kind in ATTENTION_REPLACES))


def _replacement(replaces: dict[Any, AttentionPatch], block: tuple | None,
                 index: int) -> AttentionPatch | None:
    """The replacement for this block: keyed by (kind, id, index in the transformer) first, then (kind, id)."""
    if block is None or not replaces:
        return None
    return replaces.get((block[0], block[1], index), replaces.get(block))


def _patched_attention(attn: CrossAttention, n: torch.Tensor, context: torch.Tensor | None,
                       patches: list[AttentionPatch], replace: AttentionPatch | None,
                       extra_options: dict[str, Any]) -> torch.Tensor:
    """One attention of a block with its input patches and replacement (ComfyUI's order and defaults)."""
    value = None
    if patches:
        context = n if context is None else context
        value = context
        for patch in patches:
            n, context, value = patch(n, context, value, extra_options)
    if replace is None:
        return attn(n, context, value)
    context = n if context is None else context
    value = context if value is None else value
    return attn.to_out(replace(attn.to_q(n), attn.to_k(context), attn.to_v(value), extra_options))


class BasicTransformerBlock(nn.Module):
    """Self-attention, cross-attention to the text context, then a gated feed-forward; pre-norm residuals."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int) -> None:
        super().__init__()
        self.n_heads = heads
        self.d_head = dim_head
        self.attn1 = CrossAttention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                transformer_options: dict[str, Any] | None = None) -> torch.Tensor:
        if transformer_options and has_attention_patches(transformer_options):
            return self._patched_forward(x, context, transformer_options)
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))

    def _patched_forward(self, x: torch.Tensor, context: torch.Tensor,
                         transformer_options: dict[str, Any]) -> torch.Tensor:
        """``forward`` through the attention patch points of ``transformer_options`` (ComfyUI's
        ``BasicTransformerBlock._forward``)."""
        patches = transformer_options.get("patches") or {}
        replaces = transformer_options.get("patches_replace") or {}
        extra_options = {key: value for key, value in transformer_options.items()
                         if key not in ("patches", "patches_replace")}
        extra_options.update(n_heads=self.n_heads, dim_head=self.d_head, attn_precision=None)
        block, index = transformer_options.get("block"), transformer_options.get("block_index", 0)

        n = _patched_attention(self.attn1, self.norm1(x), None, patches.get("attn1_patch", []),
                               _replacement(replaces.get("attn1", {}), block, index), extra_options)
        for patch in patches.get("attn1_output_patch", []):
            n = patch(n, extra_options)
        x = x + n
        for patch in patches.get("middle_patch", []):
            x = patch(x, extra_options)
        n = _patched_attention(self.attn2, self.norm2(x), context, patches.get("attn2_patch", []),
                               _replacement(replaces.get("attn2", {}), block, index), extra_options)
        for patch in patches.get("attn2_output_patch", []):
            n = patch(n, extra_options)
        x = x + n
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Runs transformer blocks over the pixels of a feature map; ``proj_in`` is a 1x1 conv (SD1) or linear."""

    def __init__(
        self, channels: int, heads: int, dim_head: int, depth: int, context_dim: int, use_linear: bool
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        if use_linear:
            self.proj_in: nn.Module = nn.Linear(channels, inner)
            self.proj_out: nn.Module = nn.Linear(inner, channels)
        else:
            self.proj_in = nn.Conv2d(channels, inner, 1)
            self.proj_out = nn.Conv2d(inner, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                transformer_options: dict[str, Any] | None = None) -> torch.Tensor:
        """``transformer_options`` (when given) gets ``activations_shape`` and, for each block in turn,
        ``block_index``, as ComfyUI's does; the blocks read their attention patches from it."""
        b, _, h, w = x.shape
        options = transformer_options if transformer_options is not None else {}
        options["activations_shape"] = list(x.shape)
        residual = x
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.flatten(2).transpose(1, 2)
        if self.use_linear:
            x = self.proj_in(x)
        for index, block in enumerate(self.transformer_blocks):
            options["block_index"] = index
            x = block(x, context, options)
        if self.use_linear:
            x = self.proj_out(x)
        x = x.transpose(1, 2).reshape(b, -1, h, w)
        if not self.use_linear:
            x = self.proj_out(x)
        return x + residual
