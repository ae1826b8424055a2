"""Feature networks for the metrics, and streaming feature extraction at constant memory.

A feature extractor maps IMAGE batches ([B, H, W, 3] in 0..1) to features (and, for the Inception Score, to
class logits). The resize before Inception moves FID by points, so it is selectable and recorded:
``pytorch-fid`` resizes float images bilinearly (pytorch-fid, torch-fidelity's default); ``clean-fid``
quantises to 8 bits and resizes each channel with PIL's bicubic filter (clean-fid's "clean" mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.metrics.inception import WEIGHTS_FILE, FIDInceptionV3
from engine.metrics.names import RESIZE_MODES

Progress = Callable[[int], None] | None
IMPLEMENTATIONS = {"pytorch-fid": "pytorch-fid (bilinear resize)", "clean-fid": "clean-fid (PIL bicubic)"}


class FeatureExtractor(Protocol):
    """``implementation`` (how images are prepared) and ``weights`` (the weights file) are optional: reports state
    them beside every number (``protocol_of``)."""

    name: str
    dims: int

    def features(self, images: torch.Tensor) -> torch.Tensor: ...

    def logits(self, images: torch.Tensor) -> torch.Tensor: ...


def resize_for_inception(images: torch.Tensor, mode: str = "pytorch-fid", size: int = 299) -> torch.Tensor:
    """IMAGE [B, H, W, 3] 0..1 -> [B, 3, size, size] in -1..1."""
    if mode == "pytorch-fid":
        x = F.interpolate(images.movedim(-1, 1).float(), size=(size, size), mode="bilinear", align_corners=False)
        return 2 * x - 1
    if mode != "clean-fid":
        raise ValueError(f"unknown resize mode {mode!r}; use one of {RESIZE_MODES}")
    quantised = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    out = np.empty((len(quantised), 3, size, size), dtype=np.float32)
    for index, image in enumerate(quantised):
        for channel in range(3):
            plane = Image.fromarray(image[..., channel].astype(np.float32), mode="F")
            out[index, channel] = np.asarray(plane.resize((size, size), resample=Image.BICUBIC))
    return torch.from_numpy(out.clip(0, 255) / 255.0) * 2 - 1


class InceptionFeatures:
    """pool3 features (2048) and 1008-class logits of the FID Inception network."""

    dims = 2048

    def __init__(self, network: FIDInceptionV3, resize_mode: str = "pytorch-fid", batch_size: int = 32) -> None:
        self.network = network
        self.resize_mode = resize_mode
        self.batch_size = batch_size
        self.name = f"inception-v3-fid/{resize_mode}"
        self.implementation = IMPLEMENTATIONS.get(resize_mode, resize_mode)
        self.weights = WEIGHTS_FILE

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = [], []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                chunk = resize_for_inception(images[start:start + self.batch_size], self.resize_mode)
                f, lg = self.network(chunk)
                features.append(f)
                logits.append(lg)
        return torch.cat(features), torch.cat(logits)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[0]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[1]

    def both(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(images)


def protocol_of(extractor: FeatureExtractor) -> tuple[str, str]:
    """(implementation, weights file) of a feature extractor, "" where it does not say."""
    return str(getattr(extractor, "implementation", "")), str(getattr(extractor, "weights", ""))


def extract_features(extractor: FeatureExtractor, batches: Iterable[torch.Tensor],
                     progress: Progress = None) -> np.ndarray:
    """Features of every image, one batch at a time (only the features are kept, as float32)."""
    collected: list[np.ndarray] = []
    done = 0
    for batch in batches:
        collected.append(extractor.features(batch).double().numpy().astype(np.float32))
        done += len(batch)
        if progress is not None:
            progress(done)
    dims = getattr(extractor, "dims", 0)
    return np.concatenate(collected) if collected else np.zeros((0, dims), dtype=np.float32)
