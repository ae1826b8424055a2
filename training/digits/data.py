"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside the package) upscaled to 32x32.

White strokes on black. A fixed, seeded split keeps 297 images aside for the FID reference; training never
sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

SIZE = 32
HELD_OUT = 297
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEMPLATES = ["a handwritten digit {d}", "the digit {w}", "a handwritten {w}", "the number {d}", "{d}",
             "a photo of the digit {d}", "digit {w}, handwritten"]


@dataclass
class Digits:
    images: torch.Tensor  # [N, 1, 32, 32] in 0..1
    labels: torch.Tensor  # [N]


def load_split(seed: int = 0) -> tuple[Digits, Digits]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.from_numpy(data.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bicubic", align_corners=False).clamp(0, 1)
    labels = torch.from_numpy(data.target.astype(np.int64))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    held, train = order[:HELD_OUT], order[HELD_OUT:]
    return Digits(images[train], labels[train]), Digits(images[held], labels[held])


def prompt_for(label: int, rng: np.random.Generator) -> str:
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(d=label, w=WORDS[label])


def to_image(gray: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] -> IMAGE [N, H, W, 3]."""
    return gray.movedim(1, -1).repeat(1, 1, 1, 3)
