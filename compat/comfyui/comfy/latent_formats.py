"""ComfyUI's ``comfy.latent_formats``: ``LatentFormat``, ``SD15`` and ``SDXL`` (views of
``engine.sd.latent_format``, with ComfyUI's attribute names: ``latent_channels``, ``scale_factor``,
``latent_rgb_factors``, ``process_in``/``process_out``). Other families' formats are absent."""

from __future__ import annotations

from typing import Any

_NAMES = ("LatentFormat", "SD15", "SDXL")


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        from engine.sd import base_model

        return getattr(base_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
