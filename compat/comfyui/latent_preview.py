"""ComfyUI's ``latent_preview``: step previews for samplers a plug-in drives itself, wired to the running node's
progress (``core.context.current_context()``), as Atelier's KSampler reports its own.

``get_previewer`` always gives the fast linear latent->RGB previewer (Atelier has no TAESD previews);
``prepare_callback(model, steps)`` returns ComfyUI's ``callback(step, x0, x, total_steps)``, which reports progress
with a preview of the first image, stops when the user interrupts, and keeps the last x0 in ``x0_output_dict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_PREVIEW_RESOLUTION = 512


class LatentPreviewer:
    """ComfyUI's previewer base: ``decode_latent_to_preview(x0)`` -> PIL image."""

    def decode_latent_to_preview(self, x0: Any) -> Any:
        raise NotImplementedError

    def decode_latent_to_preview_image(self, preview_format: str, x0: Any) -> tuple:
        image = self.decode_latent_to_preview(x0)
        return preview_format, image, MAX_PREVIEW_RESOLUTION


class Latent2RGBPreviewer(LatentPreviewer):
    """A linear map of latent channels to RGB (``latent_rgb_factors``: one row of 3 per channel)."""

    def __init__(self, latent_rgb_factors: list, latent_rgb_factors_bias: list | None = None,
                 latent_rgb_factors_reshape: Callable | None = None) -> None:
        from engine.sd.latent_format import LatentFormat

        self.format = LatentFormat(len(latent_rgb_factors), 1.0, 0.0, tuple(tuple(r) for r in latent_rgb_factors),
                                   tuple(latent_rgb_factors_bias) if latent_rgb_factors_bias is not None else None)

    def decode_latent_to_preview(self, x0: Any) -> Any:
        from PIL import Image

        return Image.fromarray(self.format.preview_rgb(x0[0]).numpy())


def get_previewer(device: Any, latent_format: Any) -> LatentPreviewer | None:
    """The previewer for a model's latent format (ComfyUI's ``comfy.latent_formats`` objects or Atelier's)."""
    factors = getattr(latent_format, "latent_rgb_factors", None) or getattr(latent_format, "rgb_factors", None)
    if factors is None:
        return None
    bias = getattr(latent_format, "latent_rgb_factors_bias", getattr(latent_format, "rgb_bias", None))
    return Latent2RGBPreviewer(factors, bias)


def prepare_callback(model: Any, steps: int, x0_output_dict: dict | None = None) -> Callable:
    """ComfyUI's step callback for ``comfy.sample.sample`` and guiders, reporting to the running node."""
    from core.context import current_context

    previewer = get_previewer(None, model.latent_format)
    context = current_context()

    def callback(step: int, x0: Any, x: Any, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        if context is None:
            return
        preview = previewer.decode_latent_to_preview(x0) if previewer is not None and x0 is not None else None
        context.progress(step + 1, total_steps, preview)

    return callback
