"""One evaluation: features of generated images against a reference, turned into a MetricsReport.

Generated images arrive in batches (so 50k images stream at constant memory); when a work folder is given,
each batch's features are stored there, and a run that was interrupted resumes from the stored batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.metrics.features import FeatureExtractor, protocol_of
from engine.metrics.names import METRIC_SETS
from engine.metrics.report import MetricsReport
from engine.metrics.scores import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    mean_and_covariance,
    precision_recall,
)
from engine.metrics.stats import RunningStats, load_stats, load_stats_count, save_stats

KEEP_FEATURES = 10000  # KID and precision/recall use at most this many generated images
BATCH = 50  # images per feature-network call
IS_SPLIT_RULE = "{splits} shuffled contiguous splits (torch-fidelity)"


@dataclass
class Reference:
    """What generated images are compared with: features of real images, or only their statistics."""

    name: str
    features: np.ndarray | None = None
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    count: int | None = None  # how many real images; None when a statistics file does not say

    @classmethod
    def of_images(cls, extractor: FeatureExtractor, images: torch.Tensor) -> Reference:
        features = image_features(extractor, images)
        return cls(f"{len(features)} reference images", features=features, count=len(features))

    @classmethod
    def of_stats_file(cls, path: Path, name: str) -> Reference:
        """mu/sigma saved by ``save_reference_stats`` or pytorch-fid's ``--save-stats`` (which has no count)."""
        mu, sigma = load_stats(path)
        return cls(name, mu=mu, sigma=sigma, count=load_stats_count(path))

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mu is None:
            self.mu, self.sigma = mean_and_covariance(self.features)
        return self.mu, self.sigma  # type: ignore[return-value]


def in_batches(images: torch.Tensor, size: int = BATCH) -> Iterator[torch.Tensor]:
    for start in range(0, len(images), size):
        yield images[start:start + size]


def image_features(extractor: FeatureExtractor, images: torch.Tensor) -> np.ndarray:
    """Features [N, dims] (float64) of an IMAGE batch, ``BATCH`` images at a time."""
    return np.concatenate([extractor.features(batch).double().numpy() for batch in in_batches(images)])


def save_reference_stats(extractor: FeatureExtractor, images: torch.Tensor, path: Path) -> int:
    """Saves mu/sigma of real images' features to ``path`` (pytorch-fid's .npz format); how many images."""
    features = image_features(extractor, images)
    save_stats(path, *mean_and_covariance(features), count=len(features))
    return len(features)


Batch = torch.Tensor | Callable[[], torch.Tensor]  # a callable is only called when its features are not stored


def stream_features(extractor: FeatureExtractor, batches: Iterator[Batch], want_logits: bool,
                    work_dir: Path | None = None, progress: Callable[[int], None] | None = None
                    ) -> tuple[RunningStats, np.ndarray, np.ndarray | None]:
    """Running statistics, up to KEEP_FEATURES features and (if wanted) logits of every image."""
    stats = RunningStats(extractor.dims)
    kept: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    for index, batch in enumerate(batches):
        cached = work_dir / f"batch_{index:06d}.npz" if work_dir is not None else None
        if cached is not None and cached.is_file():
            with np.load(cached) as data:
                features, batch_logits = data["features"], data.get("logits", None)
        else:
            features, batch_logits = features_and_logits(extractor, batch() if callable(batch) else batch,
                                                         want_logits)
            if cached is not None:
                arrays = {"features": features} | ({"logits": batch_logits} if batch_logits is not None else {})
                np.savez(cached, **arrays)
        stats.add(features)
        if sum(len(k) for k in kept) < KEEP_FEATURES:
            kept.append(features)
        if batch_logits is not None:
            logits.append(batch_logits)
        if progress is not None:
            progress(stats.count)
    kept_features = np.concatenate(kept)[:KEEP_FEATURES] if kept else np.zeros((0, extractor.dims))
    return stats, kept_features, np.concatenate(logits) if logits else None


def features_and_logits(extractor: FeatureExtractor, batch: torch.Tensor, want_logits: bool
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (float64) of a batch and, when wanted, its class logits, in one network pass where possible."""
    if want_logits and hasattr(extractor, "both"):
        features, logits = extractor.both(batch)  # type: ignore[attr-defined]
        return features.double().numpy(), logits.double().numpy()
    features = extractor.features(batch).double().numpy()
    return features, extractor.logits(batch).double().numpy() if want_logits else None


def evaluate(extractor: FeatureExtractor, batches: Iterator[Batch], reference: Reference | None,
             metrics: str, label: str, resize_mode: str = "", work_dir: Path | None = None,
             progress: Callable[[int], None] | None = None, kid_subset_size: int = 1000,
             resolution: str = "") -> MetricsReport:
    """``resolution``: "H×W" of the generated images, for the report's protocol."""
    wanted = METRIC_SETS[metrics]
    stats, features, logits = stream_features(extractor, batches, "is" in wanted, work_dir, progress)
    implementation, weights = protocol_of(extractor)
    report = MetricsReport(label=label, num_images=stats.count, feature_net=extractor.name, resize_mode=resize_mode,
                           reference=reference.name if reference else "", implementation=implementation,
                           feature_weights=weights, reference_count=reference.count if reference else None,
                           resolution=resolution)
    if stats.count < 2:
        raise ValueError(f"{label}: at least 2 images are needed, got {stats.count}")
    if reference is not None and "fid" in wanted:
        report.fid = frechet_distance(stats.mean(), stats.covariance(), *reference.statistics())
    if reference is not None and reference.features is not None:
        if "kid" in wanted or "precision_recall" in wanted:
            report.feature_images = len(features)
        if "kid" in wanted:
            report.kid_mean, report.kid_std = kernel_inception_distance(features, reference.features,
                                                                        subset_size=kid_subset_size)
        if "precision_recall" in wanted:
            report.precision, report.recall = precision_recall(reference.features, features)
    if "is" in wanted and logits is not None:
        report.is_mean, report.is_std = inception_score(logits, splits=min(10, len(logits)))
        report.is_splits = IS_SPLIT_RULE.format(splits=min(10, len(logits)))
    return report
