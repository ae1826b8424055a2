"""PNG text metadata as ComfyUI writes it: ``prompt`` and ``workflow`` tEXt chunks holding JSON."""

from __future__ import annotations

import json
from typing import Any

from PIL import Image, PngImagePlugin


def png_info(prompt: dict[str, Any] | None, extra_pnginfo: dict[str, Any] | None) -> PngImagePlugin.PngInfo:
    """tEXt chunks: ``prompt`` (the API prompt) and one per ``extra_pnginfo`` key (normally ``workflow``)."""
    info = PngImagePlugin.PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def png_text_chunks(image: Image.Image) -> dict[str, str]:
    """The text chunks of an opened PNG (tEXt, zTXt and iTXt)."""
    text = getattr(image, "text", None)
    if isinstance(text, dict):
        return {str(key): str(value) for key, value in text.items()}
    return {str(key): str(value) for key, value in image.info.items() if isinstance(value, str)}
