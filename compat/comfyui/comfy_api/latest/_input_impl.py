"""ComfyUI's ``comfy_api.latest._input_impl``: video values. Partial stand-ins: Atelier has no VIDEO values, so
making one raises ``NotImplementedError``."""

from __future__ import annotations

from typing import Any

from comfy_api.latest._input import VideoInput


class VideoFromFile(VideoInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("InputImpl.VideoFromFile: Atelier has no VIDEO values")


class VideoFromComponents(VideoInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("InputImpl.VideoFromComponents: Atelier has no VIDEO values")


__all__ = ["VideoFromFile", "VideoFromComponents"]
