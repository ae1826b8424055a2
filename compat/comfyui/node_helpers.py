"""ComfyUI's ``node_helpers``: small helpers packs import, as views of Atelier's engine where it has the operation.

Imports nothing heavy at load (packs import this module at start); torch and PIL are imported when a helper runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

HASHERS = ("md5", "sha1", "sha256", "sha512")


def conditioning_set_values(conditioning: list, values: dict[str, Any] | None = None, append: bool = False) -> list:
    """Each entry of a CONDITIONING with ``values`` set in its options (``engine.conditioning.set_values``)."""
    from engine.conditioning import set_values

    return set_values(conditioning, dict(values or {}), append)


def pillow(fn: Callable[[T], R], arg: T) -> R:
    """``fn(arg)`` for a PIL call, retried with truncated images allowed when PIL refuses the file (ComfyUI's
    workaround for images some tools write without their last bytes)."""
    from PIL import ImageFile, UnidentifiedImageError

    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher() -> Callable[..., Any]:
    """The hashlib constructor of ``--default-hashing-function`` (sha256 unless ComfyUI's argument says so)."""
    import hashlib

    try:
        from comfy.cli_args import args

        name = getattr(args, "default_hashing_function", "sha256")
    except ImportError:
        name = "sha256"
    return getattr(hashlib, name if name in HASHERS else "sha256")


def string_to_torch_dtype(string: str) -> Any:
    """``fp32``/``fp16``/``bf16`` as a torch dtype; None for anything else, as in ComfyUI."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(string)


def image_alpha_fix(destination: Any, source: Any) -> tuple[Any, Any]:
    """``(destination, source)`` with ``source`` given the destination's channel count for compositing: extra
    channels dropped, a missing alpha opaque (``engine.compositing.match_channels``)."""
    from engine.compositing import match_channels

    return destination, match_channels(destination, source)


def is_link(value: Any) -> bool:
    """Whether a prompt input is a link ``[node_id, output_index]`` rather than a constant."""
    from execution.graph import is_link as link

    return link(value)
