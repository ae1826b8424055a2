"""Style models (StyleModelLoader / StyleModelApply): TencentARC's T2I-Adapter style adapter, which turns a CLIP
vision encoder's last hidden state (ViT-L/14: 257 tokens of 1024) into a few extra text tokens (8 of 768 in the
published ``t2iadapter_style_sd14v1``) appended to the prompt's conditioning.

The adapter is ComfyUI's ``StyleAdapter``, with its key names (``transformer_layes`` sic): learned style tokens
appended to the image tokens, a pre-norm, three residual attention blocks (8 heads, quick-GELU MLP), a post-norm
over the style tokens and a projection to the text width. Its width, text width, depth and token count are read
from the shapes; the head count (8) is not stored. Flux Redux style models are refused by name.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.conditioning import Conditioning
from engine.device import AUTO, Devices
from engine.sd.materialize import build_with_weights, shared_compute_copy
from engine.sd.memory import module_bytes

STYLE_HEADS = 8
STRENGTH_TYPES = ("multiply", "attn_bias")


class StyleModelError(ValueError):
    """A file that is not a style model Atelier can run; the message names it and says why."""


@dataclass(frozen=True)
class StyleAdapterConfig:
    width: int = 1024
    context_dim: int = 768
    heads: int = STYLE_HEADS
    layers: int = 3
    tokens: int = 8


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """CLIP's pre-norm transformer block (sequence-first, as ``nn.MultiheadAttention`` defaults)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class StyleAdapter(nn.Module):
    def __init__(self, config: StyleAdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer_layes = nn.Sequential(*[ResidualAttentionBlock(config.width, config.heads)
                                                 for _ in range(config.layers)])
        self.style_embedding = nn.Parameter(torch.zeros(1, config.tokens, config.width))
        self.ln_post = nn.LayerNorm(config.width)
        self.ln_pre = nn.LayerNorm(config.width)
        self.proj = nn.Parameter(torch.zeros(config.width, config.context_dim))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """CLIP vision hidden states [N, tokens, width] -> style tokens [N, config.tokens, context_dim]."""
        style = self.style_embedding.expand(hidden.shape[0], -1, -1).to(hidden)
        x = self.ln_pre(torch.cat([hidden, style], dim=1))
        x = self.transformer_layes(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, -self.config.tokens:, :]) @ self.proj


def style_adapter_config(sd: Mapping[str, torch.Tensor]) -> StyleAdapterConfig:
    _, tokens, width = sd["style_embedding"].shape
    layers = {int(m.group(1)) for key in sd if (m := re.match(r"transformer_layes\.(\d+)\.", key))}
    return StyleAdapterConfig(width=int(width), context_dim=int(sd["proj"].shape[1]), layers=max(layers) + 1,
                              tokens=int(tokens))


class StyleModel:
    """ComfyUI's ``StyleModel``: ``get_cond(clip_vision_output)`` -> style tokens [N, tokens, context_dim]."""

    def __init__(self, model: StyleAdapter, devices: Devices = AUTO) -> None:
        self.model = model  # storage copy; never modified
        self.devices = devices
        self._shared: dict[str, Any] = {"compute": None}

    def memory_bytes(self) -> int:
        return module_bytes(self.model)

    def clone(self) -> StyleModel:
        return copy.copy(self)

    def _compute_model(self) -> StyleAdapter:
        return shared_compute_copy(self.model, self.devices, self._shared)

    def get_cond(self, clip_vision_output: Any) -> torch.Tensor:
        hidden = clip_vision_output["last_hidden_state"]
        if hidden.shape[-1] != self.model.config.width:
            raise ValueError(f"this style model reads a {self.model.config.width}-wide CLIP vision encoder (ViT-L/14 "
                             f"for the published one) but the image was encoded by a {hidden.shape[-1]}-wide one")
        model = self._compute_model()
        parameter = next(model.parameters())
        with torch.no_grad():
            return model(hidden.to(parameter.device, parameter.dtype)).float().cpu()


def style_model_from_state_dict(sd: Mapping[str, torch.Tensor], devices: Devices = AUTO) -> StyleModel:
    if "redux_down.weight" in sd:
        raise StyleModelError("Flux Redux style models need a Flux model, which Atelier does not run")
    if "style_embedding" not in sd:
        raise StyleModelError(f"not a style model: expected 'style_embedding' (T2I-Adapter style); found e.g. "
                              f"{sorted(sd)[:5]}")
    config = style_adapter_config(sd)
    return StyleModel(build_with_weights(lambda: StyleAdapter(config), sd), devices)


def read_style_model(path: str | Path, devices: Devices = AUTO) -> StyleModel:
    from engine.sd.components import model_dtypes, read_weights

    path = Path(path)
    sd = read_weights(path, model_dtypes(devices))
    try:
        return style_model_from_state_dict(sd, devices)
    except (StyleModelError, KeyError, RuntimeError) as e:
        raise StyleModelError(f"{path}: {e}") from e


def apply_style(conditioning: Conditioning, tokens: torch.Tensor, strength: float,
                strength_type: str = "multiply") -> Conditioning:
    """StyleModelApply: ``tokens`` [N, n, dim] flattened to one row of N*n tokens, scaled by ``strength``
    ("multiply") and appended to each entry's tokens. "attn_bias" (an attention bias on the new tokens) needs
    attention masks, which Atelier's UNet does not take: it is accepted only where it changes nothing (strength 1)."""
    if strength_type not in STRENGTH_TYPES:
        raise ValueError(f"strength_type must be one of {STRENGTH_TYPES}, not {strength_type!r}")
    if strength_type == "attn_bias" and strength != 1.0:
        raise NotImplementedError("StyleModelApply's 'attn_bias' strength needs attention masks, which Atelier does "
                                  "not support; use 'multiply'")
    if any("attention_mask" in options for _, options in conditioning):
        raise NotImplementedError("StyleModelApply on conditioning with an attention mask is not supported")
    style = tokens.flatten(0, 1)[None]
    if strength_type == "multiply":
        style = style * strength
    return [[torch.cat([cond, style.to(cond)], dim=1), dict(options)] for cond, options in conditioning]
