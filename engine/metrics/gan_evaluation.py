"""Scoring a GAN on many of its images (10k-50k) at constant memory: images are generated a batch at a time,
and each batch's features are kept in a work folder, so an interrupted evaluation resumes where it stopped."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from engine.gan.generator import GANGenerator
from engine.metrics.evaluate import BATCH, Reference, evaluate
from engine.metrics.features import FeatureExtractor
from engine.metrics.report import MetricsReport


def work_folder_name(gan: GANGenerator, seed: int, truncation: float, extractor: FeatureExtractor,
                     metrics: str) -> str:
    """Names the stored batches of one evaluation: another generator, seed, truncation, feature network or set of
    metrics starts afresh."""
    identity = f"{gan.name}|{gan.memory_bytes()}|{seed}|{truncation}|{extractor.name}|{metrics}"
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def generated_batches(gan: GANGenerator, num_images: int, seed: int, truncation: float
                      ) -> Iterator[Callable[[], torch.Tensor]]:
    """Batches of images from seeds ``seed``, ``seed + 1``, ...; each generated only when called (a stored batch
    is not)."""
    class_label = 0 if gan.num_classes else None

    def batch(start: int) -> Callable[[], torch.Tensor]:
        seeds = list(range(seed + start, seed + min(num_images, start + BATCH)))
        return lambda: gan.generate(seeds, truncation, class_label)

    return (batch(start) for start in range(0, num_images, BATCH))


def evaluate_gan(gan: GANGenerator, extractor: FeatureExtractor, reference: Reference | None, num_images: int,
                 seed: int, truncation: float, metrics: str, label: str, resize_mode: str, work_root: Path,
                 progress: Callable[[int], None] | None = None) -> MetricsReport:
    """The metrics of ``num_images`` generated images; batches are stored under ``work_root``."""
    work_dir = work_root / work_folder_name(gan, seed, truncation, extractor, metrics)
    work_dir.mkdir(parents=True, exist_ok=True)
    return evaluate(extractor, generated_batches(gan, num_images, seed, truncation), reference, metrics, label,
                    resize_mode, work_dir=work_dir, progress=progress,
                    resolution=f"{gan.resolution}×{gan.resolution}")
