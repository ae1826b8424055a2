"""ComfyUI's ``comfy.sd1_clip``: prompt-weight parsing and textual-inversion lookup as views of Atelier's
(``engine.sd.prompt_weights``, ``engine.sd.embeddings``), and its encoder/tokenizer class names.

``SDClipModel`` is Atelier's text encoder class; ``SD1ClipModel`` matches a CLIP-L text encoder value, as
``comfy.sdxl_clip``'s names match SDXL's. ``SDTokenizer``/``SD1Tokenizer`` are the ``clip.tokenizer`` views.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

EMBEDDING_SUFFIXES = ("", ".safetensors", ".pt", ".bin", ".pth")  # as Atelier's CLIPTextEncode looks them up


def escape_important(text: str) -> str:
    from engine.sd.prompt_weights import escape

    return escape(text)


def unescape_important(text: str) -> str:
    from engine.sd.prompt_weights import unescape

    return unescape(text)


def parse_parentheses(string: str) -> list[str]:
    from engine.sd.prompt_weights import split_parentheses

    return split_parentheses(string)


def token_weights(string: str, current_weight: float) -> list[tuple[str, float]]:
    """(segment, weight) pairs of already-escaped text (Atelier's prompt weighting, ComfyUI's rules)."""
    from engine.sd.prompt_weights import token_weights as weights

    return weights(string, current_weight)


def expand_directory_list(directories: Sequence[str]) -> list[str]:
    """The directories and every folder below them, each once."""
    found: dict[str, None] = {}
    for directory in directories:
        found[os.path.abspath(directory)] = None
        for root, _, _ in os.walk(directory, followlinks=True):
            found[os.path.abspath(root)] = None
    return list(found)


def _directories(embedding_directory: str | Sequence[str]) -> list[str]:
    return [embedding_directory] if isinstance(embedding_directory, str) else list(embedding_directory)


def load_embed(embedding_name: str, embedding_directory: str | Sequence[str], embedding_size: int,
               embed_key: str | None = None) -> Any:
    """The vectors [n, embedding_size] of ``embedding_name`` found under ``embedding_directory``, or None."""
    from pathlib import Path

    from engine.sd.embeddings import EmbeddingMismatch, load_embedding

    for directory in expand_directory_list(_directories(embedding_directory)):
        for suffix in EMBEDDING_SUFFIXES:
            path = Path(directory) / (embedding_name + suffix)
            if path.is_file():
                try:
                    return load_embedding(path, embedding_size)
                except EmbeddingMismatch as error:
                    log.warning("%s", error)
                    return None
    return None


def embedding_source(embedding_directory: str | Sequence[str]) -> Callable[[str, int], Any]:
    """What a CLIP value's ``embeddings`` attribute takes: (name, width) -> vectors, from ComfyUI's directories."""

    def find(name: str, width: int) -> Any:
        vectors = load_embed(name, embedding_directory, width)
        if vectors is None:
            raise FileNotFoundError(f"embedding {name!r} is not in {embedding_directory}")
        return vectors

    return find


class _EncoderKind(type):
    """A ComfyUI encoder class name that matches Atelier's text encoder values of one kind (by ComfyUI letter)."""

    letter: str

    def __instancecheck__(cls, value: Any) -> bool:
        from engine.sd.clip import ClipTextModel

        return isinstance(value, ClipTextModel) and value.letter == cls.letter


class SD1ClipModel(metaclass=_EncoderKind):
    """Matches SD1.x's text encoder value (a CLIP-L ``ClipTextModel``); built only by Atelier's loaders."""

    letter = "l"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("ComfyUI's encoder classes are not built directly in Atelier: load a CLIP with "
                                  "comfy.sd.load_clip or a checkpoint")


def __getattr__(name: str) -> Any:
    """Atelier's classes behind ComfyUI's names, imported on first use (they pull in torch and transformers)."""
    if name in ("SDClipModel", "ClipTokenWeightEncoder"):
        from engine.sd.clip import ClipTextModel

        return ClipTextModel
    if name in ("SDTokenizer", "SD1Tokenizer"):
        from engine.sd.comfy_clip import ComfyTokenizer

        return ComfyTokenizer
    raise AttributeError(f"module 'comfy.sd1_clip' has no attribute {name!r}")
