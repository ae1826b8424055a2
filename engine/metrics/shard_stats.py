"""Mergeable statistics of one shard of generated images, computed where the images are.

A dataset run is split into shards that run on different workers; each records the statistics of its images in
one ``.npz`` file, and merging the files gives what one pass over every image would:

- FID: (n, Σx, Σxxᵀ) of the features in float64 (``RunningStats``); sums merge exactly. Σxxᵀ is dims² numbers
  (33.5 MB for Inception's 2048), so a shard of fewer images than dims stores its float64 features instead
  (n·dims numbers) and loading forms Σxxᵀ from them: a COCO-30k run in shards of 64 records ~1 GB, not ~16 GB.
- Inception Score: an item's split is the one torch-fidelity (and ``engine.metrics.scores.inception_score``) puts
  it in when the run's items come in global index order: the run is shuffled with ``RandomState(2020)`` and cut
  into min(10, items) contiguous splits; that needs only the item's index and the run's size, so every shard
  agrees. Each split keeps n_s, Σ p(y|x) and Σ_x Σ_y p log p (float64), so
  IS_s = exp((1/n_s) Σ p log p − Σ_y p̄_y log p̄_y) with p̄ = Σp / n_s, and the report gives mean and std over the
  splits: what one pass over every image in index order gives. (Splitting by index mod 10 would follow the prompt
  list: prompts cycling through ten classes would put one class in each split and score about 1.)
- CLIP score: (Σ score, n), each item scored against its own text.
- KID and precision/recall need the features themselves: a shard keeps those of its KEEP_FEATURES lowest global
  indices (float32), and the merge keeps the KEEP_FEATURES lowest indices of all shards, so the kept set does not
  depend on how the run was sharded.

Files are written with ``np.savez`` and read with ``allow_pickle=False``; the text fields are one JSON string. A file
holds either ``outer`` (Σxxᵀ) or ``fid_features`` (format 3).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from engine.metrics.evaluate import BATCH, IS_SPLIT_RULE, KEEP_FEATURES, Reference, features_and_logits
from engine.metrics.features import FeatureExtractor, protocol_of
from engine.metrics.names import METRIC_SETS
from engine.metrics.report import CLIP_SCALING, MetricsReport, resolution_of
from engine.metrics.scores import frechet_distance, kernel_inception_distance, precision_recall
from engine.metrics.stats import RunningStats

IS_SPLITS = 10
IS_SHUFFLE_SEED = 2020  # torch-fidelity's rng_seed, as engine.metrics.scores.inception_score
FORMAT = 3  # 3: fid_features instead of outer for a shard of fewer images than dims


class ClipScorer(Protocol):
    def scores(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor: ...


@dataclass(frozen=True)
class ShardProtocol:
    """How a shard's statistics were made; every shard of a run must agree."""

    feature_net: str
    resize_mode: str = ""
    implementation: str = ""
    feature_weights: str = ""
    clip_model: str = ""


@dataclass
class ShardStatistics:
    protocol: ShardProtocol
    run_size: int  # how many items the whole run has (an item's Inception Score split depends on it)
    stats: RunningStats
    indices: np.ndarray  # int64: the global index of every item
    feature_indices: np.ndarray  # int64, ascending: the items whose features are kept
    features: np.ndarray  # float32 [len(feature_indices), dims]
    is_count: np.ndarray  # int64 [IS_SPLITS]
    is_probabilities: np.ndarray  # float64 [IS_SPLITS, classes]: Σ p(y|x) per split (0 classes: no logits)
    is_plogp: np.ndarray  # float64 [IS_SPLITS]: Σ_x Σ_y p log p per split
    clip_sum: float = 0.0
    clip_count: int = 0
    sizes: list[tuple[int, int]] = field(default_factory=list)  # distinct (H, W) of the images
    # float64 [count, dims], item order: a shard of fewer images than dims keeps its features, and its file stores
    # them instead of Σxxᵀ (smaller); None otherwise, and for merged statistics
    fid_features: np.ndarray | None = None

    @property
    def count(self) -> int:
        return self.stats.count

    def save(self, path: Path) -> None:
        """Written to a temporary file in the same folder, then renamed: a reader never sees half a file."""
        arrays = {"format": np.int64(FORMAT), "protocol": np.array(json.dumps(asdict(self.protocol))),
                  "run_size": np.int64(self.run_size),
                  "count": np.int64(self.stats.count), "total": self.stats.total,
                  **({"outer": self.stats.outer} if self.fid_features is None else {"fid_features": self.fid_features}),
                  "indices": self.indices, "feature_indices": self.feature_indices, "features": self.features,
                  "is_count": self.is_count, "is_probabilities": self.is_probabilities, "is_plogp": self.is_plogp,
                  "clip_sum": np.float64(self.clip_sum), "clip_count": np.int64(self.clip_count),
                  "sizes": np.array(self.sizes, dtype=np.int64).reshape(-1, 2)}
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> ShardStatistics:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data or int(data["format"]) != FORMAT:
                raise ValueError(f"{path.name} is not a shard statistics file of format {FORMAT}")
            total = data["total"]
            fid_features = data.get("fid_features")
            outer = data["outer"] if fid_features is None else fid_features.T @ fid_features
            return cls(protocol=ShardProtocol(**json.loads(str(data["protocol"]))), run_size=int(data["run_size"]),
                       stats=RunningStats(len(total), int(data["count"]), total, outer),
                       indices=data["indices"], feature_indices=data["feature_indices"], features=data["features"],
                       is_count=data["is_count"], is_probabilities=data["is_probabilities"],
                       is_plogp=data["is_plogp"], clip_sum=float(data["clip_sum"]),
                       clip_count=int(data["clip_count"]), sizes=[tuple(size) for size in data["sizes"].tolist()],
                       fid_features=fid_features)

    @classmethod
    def merge(cls, shards: Iterable[ShardStatistics]) -> ShardStatistics:
        """The statistics of every shard's items together (sums; the lowest-index features are kept). ``shards`` may
        be a generator: only the running sums and one shard are held at a time, as a shard of 2048-d features holds
        a 2048² matrix (33 MB; a COCO-30k run in shards of 64 has 469 of them)."""
        merged = None
        for shard in shards:
            merged = shard if merged is None else merged._plus(shard)
        if merged is None:
            raise ValueError("no shard statistics to merge")
        return merged

    def _plus(self, other: ShardStatistics) -> ShardStatistics:
        if other.protocol != self.protocol:
            raise ValueError(f"shards were made differently: {self.protocol} and {other.protocol}")
        if other.run_size != self.run_size:
            raise ValueError(f"shards of runs of {self.run_size} and {other.run_size} items cannot be merged")
        if other.is_probabilities.shape != self.is_probabilities.shape:
            raise ValueError("shards differ in their Inception Score classes (some have no logits)")
        if np.intersect1d(self.indices, other.indices).size:
            raise ValueError("shards overlap: some items were recorded by two shards")
        stats = RunningStats(self.stats.dims)
        stats.merge(self.stats)
        stats.merge(other.stats)
        feature_indices, features = _lowest(np.concatenate([self.feature_indices, other.feature_indices]),
                                            np.concatenate([self.features, other.features]))
        return ShardStatistics(self.protocol, self.run_size, stats, np.concatenate([self.indices, other.indices]),
                               feature_indices, features, self.is_count + other.is_count,
                               self.is_probabilities + other.is_probabilities, self.is_plogp + other.is_plogp,
                               self.clip_sum + other.clip_sum, self.clip_count + other.clip_count,
                               sorted({*self.sizes, *other.sizes}))

    def inception_score(self) -> tuple[float, float] | None:
        """(mean, std) of IS over the splits that have images; None without logits."""
        used = self.is_count > 0
        if self.is_probabilities.shape[1] == 0 or not used.any():
            return None
        count = self.is_count[used].astype(np.float64)
        marginal = self.is_probabilities[used] / count[:, None]
        marginal_plogp = (marginal * np.log(np.where(marginal > 0, marginal, 1.0))).sum(axis=1)
        scores = np.exp(self.is_plogp[used] / count - marginal_plogp)
        return float(scores.mean()), float(scores.std())

    def finalize(self, reference: Reference | None, metrics: str, label: str,
                 kid_subset_size: int = 1000) -> MetricsReport:
        """The report of these statistics against ``reference`` (FID needs it; KID and precision/recall need
        its features), with the protocol filled in."""
        if self.count < 2:
            raise ValueError(f"{label}: at least 2 images are needed, got {self.count}")
        wanted = METRIC_SETS[metrics]
        protocol = self.protocol
        report = MetricsReport(label=label, num_images=self.count, feature_net=protocol.feature_net,
                               resize_mode=protocol.resize_mode, reference=reference.name if reference else "",
                               implementation=protocol.implementation, feature_weights=protocol.feature_weights,
                               reference_count=reference.count if reference else None,
                               resolution=resolution_of(self.sizes))
        if reference is not None and "fid" in wanted:
            report.fid = frechet_distance(self.stats.mean(), self.stats.covariance(), *reference.statistics())
        if reference is not None and reference.features is not None:
            if "kid" in wanted or "precision_recall" in wanted:
                report.feature_images = len(self.features)
            if "kid" in wanted:
                report.kid_mean, report.kid_std = kernel_inception_distance(self.features, reference.features,
                                                                            subset_size=kid_subset_size)
            if "precision_recall" in wanted:
                report.precision, report.recall = precision_recall(reference.features, self.features)
        score = self.inception_score() if "is" in wanted else None
        if score is not None:
            report.is_mean, report.is_std = score
            report.is_splits = IS_SPLIT_RULE.format(splits=min(IS_SPLITS, self.run_size))
        if self.clip_count:
            report.clip_score, report.clip_model = self.clip_sum / self.clip_count, protocol.clip_model
            report.clip_scaling = CLIP_SCALING
        return report


def inception_score_splits(indices: np.ndarray, run_size: int) -> np.ndarray:
    """The Inception Score split of each global index of a run of ``run_size`` items: torch-fidelity's, which
    shuffles the items with RandomState(2020) and cuts them into min(10, run_size) contiguous splits."""
    splits = min(IS_SPLITS, run_size)
    position = np.empty(run_size, dtype=np.int64)  # where each item lands in the shuffled order
    position[np.random.RandomState(IS_SHUFFLE_SEED).permutation(run_size)] = np.arange(run_size)
    starts = [split * run_size // splits for split in range(1, splits)]  # as inception_score's slices
    return np.searchsorted(starts, position[indices], side="right")


def _lowest(indices: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The KEEP_FEATURES rows of lowest global index, in index order."""
    order = np.argsort(indices, kind="stable")[:KEEP_FEATURES]
    return indices[order], features[order]


def _chunks(images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """IMAGE batches (one tensor, or several of any sizes) as chunks of at most BATCH images, in item order."""
    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    return [batch[start:start + BATCH] for batch in batches for start in range(0, len(batch), BATCH)]


def shard_statistics(extractor: FeatureExtractor, images: torch.Tensor | Sequence[torch.Tensor],
                     indices: Sequence[int], texts: Sequence[str], clip_scorer: ClipScorer | None,
                     want_logits: bool, *, run_size: int, resize_mode: str = "", clip_model: str = "",
                     progress: Callable[[int], None] | None = None) -> ShardStatistics:
    """The statistics of one shard of a run of ``run_size`` items: ``images`` in item order, item i with global
    index ``indices[i]`` and text ``texts[i]`` (used only with a CLIP scorer)."""
    count = sum(len(chunk) for chunk in _chunks(images))
    if count != len(indices) or (clip_scorer is not None and len(texts) != count):
        raise ValueError(f"{count} images for {len(indices)} items ({len(texts)} texts): give one image per item")
    if any(not 0 <= index < run_size for index in indices):
        raise ValueError(f"item indices must be 0 to {run_size - 1}, the run has {run_size} items")
    implementation, weights = protocol_of(extractor)
    protocol = ShardProtocol(extractor.name, resize_mode, implementation, weights,
                             clip_model if clip_scorer is not None else "")
    accumulator = _Accumulator(extractor.dims, run_size)
    done = 0
    for chunk in _chunks(images):
        chunk_indices = np.asarray(indices[done:done + len(chunk)], dtype=np.int64)
        features, logits = features_and_logits(extractor, chunk, want_logits)
        accumulator.add(chunk_indices, features, logits)
        if clip_scorer is not None:
            accumulator.add_clip(clip_scorer.scores(chunk, list(texts[done:done + len(chunk)])))
        accumulator.sizes.add((int(chunk.shape[1]), int(chunk.shape[2])))
        done += len(chunk)
        if progress is not None:
            progress(done)
    return accumulator.statistics(protocol, np.asarray(indices, dtype=np.int64))


class _Accumulator:
    """Running sums of one shard, batch by batch."""

    def __init__(self, dims: int, run_size: int) -> None:
        self.run_size = run_size
        self.stats = RunningStats(dims)
        self.kept_indices = [np.zeros(0, dtype=np.int64)]
        self.kept = [np.zeros((0, dims), dtype=np.float32)]
        self.is_count = np.zeros(IS_SPLITS, dtype=np.int64)
        self.is_probabilities = np.zeros((IS_SPLITS, 0))
        self.is_plogp = np.zeros(IS_SPLITS)
        self.clip_sum, self.clip_count = 0.0, 0
        self.sizes: set[tuple[int, int]] = set()
        self.fid_rows: list[np.ndarray] | None = [np.zeros((0, dims))]  # None once there are dims images

    def add(self, indices: np.ndarray, features: np.ndarray, logits: np.ndarray | None) -> None:
        self.stats.add(features)
        if self.fid_rows is not None:
            self.fid_rows.append(np.asarray(features, dtype=np.float64))
            if self.stats.count >= self.stats.dims:
                self.fid_rows = None
        self.kept_indices.append(indices)
        self.kept.append(features.astype(np.float32))
        if sum(map(len, self.kept_indices)) > 2 * KEEP_FEATURES:  # compact now and then: linear time overall
            self._compact()
        if logits is not None:
            self._add_logits(indices, logits)

    def _add_logits(self, indices: np.ndarray, logits: np.ndarray) -> None:
        log_p = torch.as_tensor(logits, dtype=torch.float64).log_softmax(dim=1)
        p = log_p.exp()
        if self.is_probabilities.shape[1] == 0:
            self.is_probabilities = np.zeros((IS_SPLITS, logits.shape[1]))
        splits = inception_score_splits(indices, self.run_size)
        np.add.at(self.is_count, splits, 1)
        np.add.at(self.is_probabilities, splits, p.numpy())
        np.add.at(self.is_plogp, splits, (p * log_p).sum(dim=1).numpy())

    def add_clip(self, scores: torch.Tensor) -> None:
        self.clip_sum += float(scores.double().sum())
        self.clip_count += len(scores)

    def _compact(self) -> None:
        lowest = _lowest(np.concatenate(self.kept_indices), np.concatenate(self.kept))
        self.kept_indices, self.kept = [lowest[0]], [lowest[1]]

    def statistics(self, protocol: ShardProtocol, indices: np.ndarray) -> ShardStatistics:
        self._compact()
        return ShardStatistics(protocol, self.run_size, self.stats, indices, self.kept_indices[0], self.kept[0],
                               self.is_count, self.is_probabilities, self.is_plogp, self.clip_sum, self.clip_count,
                               sorted(self.sizes),
                               np.concatenate(self.fid_rows) if self.fid_rows is not None else None)

