"""Real images for the metrics: a folder's image files as one IMAGE batch of squares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from engine import image_ops

PROGRESS_EVERY = 50  # images between progress reports


def load_square_images(files: list[Path], size: int,
                       progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """IMAGE [len(files), size, size, 3]: each file as RGB, resized bicubically to ``size`` x ``size``."""
    images = []
    for index, path in enumerate(files):
        with Image.open(path) as image:
            images.append(image_ops.from_pil(image.convert("RGB").resize((size, size), Image.BICUBIC)))
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index + 1, len(files))
    return torch.cat(images)
