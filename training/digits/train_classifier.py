"""Train the digits classifier (the feature network of the digits FID)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from engine.metrics.digits import DigitsClassifier
from training.digits.data import Digits


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random shifts, so the classifier does not depend on exact placement."""
    shifts = torch.randint(-2, 3, (2,), generator=generator).tolist()
    return torch.roll(images, shifts=shifts, dims=(2, 3))


def train_classifier(train: Digits, held_out: Digits, out: Path, epochs: int = 30, seed: int = 0) -> float:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DigitsClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        order = torch.randperm(len(train.images), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            loss = F.cross_entropy(model(augment(train.images[batch], generator)), train.labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    accuracy = classifier_accuracy(model.eval(), held_out)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out),
              metadata={"held_out_accuracy": f"{accuracy:.4f}"})
    return accuracy


def classifier_accuracy(model: DigitsClassifier, digits: Digits) -> float:
    with torch.no_grad():
        return float((model(digits.images).argmax(1) == digits.labels).float().mean())
