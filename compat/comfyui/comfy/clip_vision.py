"""ComfyUI's ``comfy.clip_vision``: names only. Atelier has no CLIP vision models yet (issue 15 brings them), so
loading one raises a clear error instead of failing later."""

from __future__ import annotations

from typing import Any

MESSAGE = "CLIP vision arrives with issue 15"


class ClipVisionModel:
    """ComfyUI's CLIP vision model class: not available in Atelier yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(MESSAGE)


class Output(dict):
    """ComfyUI's CLIP vision output (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def load(ckpt_path: str) -> Any:
    raise NotImplementedError(MESSAGE)


def load_clipvision_from_sd(sd: Any, prefix: str = "", convert_keys: bool = False) -> Any:
    raise NotImplementedError(MESSAGE)


def clip_preprocess(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(MESSAGE)
