"""A small handwritten-digit classifier used as the feature network of a digits FID (and its IS logits).

It is trained by ``training/digits`` on scikit-learn's 8x8 digits upscaled to 32x32 and ships in
``models/fid/atelier-digits-classifier.safetensors``. Features are the 128-wide penultimate layer.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

WEIGHTS_FILE = "atelier-digits-classifier.safetensors"
SIZE = 32


class DigitsClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.features = nn.Linear(128 * 4 * 4, 128)
        self.head = nn.Linear(128, 10)

    def embed(self, gray: torch.Tensor) -> torch.Tensor:
        """[B, 1, 32, 32] in 0..1 -> [B, 128]."""
        x = F.max_pool2d(F.relu(self.conv1(gray)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return F.relu(self.features(x.flatten(1)))

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(gray))


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """IMAGE [B, H, W, C] 0..1 -> [B, 1, 32, 32] grayscale."""
    gray = images[..., :3].mean(dim=-1, keepdim=True).movedim(-1, 1).float()
    if gray.shape[-1] != SIZE or gray.shape[-2] != SIZE:
        gray = F.interpolate(gray, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    return gray


class DigitsFeatures:
    name = "atelier-digits-classifier"
    dims = 128
    implementation = "atelier-digits (grayscale, antialiased bilinear resize to 32×32)"
    weights = WEIGHTS_FILE

    def __init__(self, network: DigitsClassifier) -> None:
        self.network = network.eval().requires_grad_(False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.network.embed(to_gray(images))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.network(to_gray(images))

    def both(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            embedded = self.network.embed(to_gray(images))
            return embedded, self.network.head(embedded)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images).argmax(dim=1)


def load_digits_classifier(path: Path) -> DigitsClassifier:
    if not path.is_file():
        raise FileNotFoundError(f"the digits classifier {path.name} is missing from {path.parent}; "
                                "train it with `python -m training.digits.train_all`")
    network = DigitsClassifier()
    network.load_state_dict(load_file(str(path)))
    return network.eval()
