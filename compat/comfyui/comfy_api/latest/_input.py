"""ComfyUI's ``comfy_api.latest._input``: the value types of V3 inputs, for annotations and ``isinstance``.

``ImageInput`` and ``MaskInput`` are ``torch.Tensor``, imported when first asked for (packs import this at start).
``VideoInput`` is a partial stand-in: Atelier has no VIDEO values.
"""

from __future__ import annotations

from typing import Any, TypedDict


class AudioInput(TypedDict):
    waveform: Any  # [B, C, T] tensor
    sample_rate: int


class LatentInput(TypedDict, total=False):
    samples: Any  # [B, C, H, W] tensor, unscaled VAE space
    noise_mask: Any
    batch_index: list[int]


class VideoInput:
    """Base of video values (stand-in: Atelier has no VIDEO values, so none exists)."""


def __getattr__(name: str) -> Any:
    if name in ("ImageInput", "MaskInput"):
        import torch

        return torch.Tensor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImageInput", "AudioInput", "VideoInput", "MaskInput", "LatentInput"]  # noqa: F822 (see __getattr__)
