"""Textual-inversion embeddings: the vectors a ``.safetensors``, ``.pt`` or ``.bin`` file adds to a text encoder.

Formats read (never unpickling code: ``torch.load(weights_only=True)``): A1111's ``string_to_param``, the
``emb_params`` of A1111's safetensors, SDXL's ``clip_l``/``clip_g`` pairs (the one as wide as the encoder), and
diffusers' ``{"<token>": vector}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file


class EmbeddingMismatch(ValueError):
    """An embedding made for a text encoder of another width (another model family)."""


def load_embedding(path: Path, width: int) -> torch.Tensor:
    """The embedding's vectors [n, width] for a text encoder ``width`` wide."""
    data: Any = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(
        path, map_location="cpu", weights_only=True)
    vectors = _vectors(data, width)
    if vectors is None:
        raise EmbeddingMismatch(f"embedding {path.name} holds no vectors this text encoder can use (it is {width} "
                                "wide)")
    vectors = vectors.detach().float().reshape(-1, vectors.shape[-1])
    if vectors.shape[-1] != width:
        raise EmbeddingMismatch(f"embedding {path.name} is {vectors.shape[-1]} wide but this text encoder is {width} "
                                "wide: it was made for another model family")
    return vectors


def _vectors(data: Any, width: int) -> torch.Tensor | None:
    if isinstance(data, torch.Tensor):
        return data
    if not isinstance(data, dict):
        return None
    if "string_to_param" in data:
        return next(iter(data["string_to_param"].values()), None)
    if "emb_params" in data:
        return data["emb_params"]
    tensors = [value for value in data.values() if isinstance(value, torch.Tensor)]
    matching = [t for t in tensors if t.shape[-1] == width]  # SDXL files carry clip_l (768) and clip_g (1280)
    return (matching or tensors or [None])[0]
