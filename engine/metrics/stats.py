"""Running feature statistics (constant memory), pytorch-fid-compatible ``.npz`` files, and resumable
accumulation for large evaluations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunningStats:
    """Mean and covariance accumulated batch by batch (float64 sums), so 50k images never sit in memory."""

    dims: int
    count: int = 0
    total: np.ndarray = field(default=None)  # type: ignore[assignment]
    outer: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.total is None:
            self.total = np.zeros(self.dims)
            self.outer = np.zeros((self.dims, self.dims))

    def add(self, features: np.ndarray) -> None:
        features = np.asarray(features, dtype=np.float64)
        self.count += len(features)
        self.total += features.sum(axis=0)
        self.outer += features.T @ features

    def merge(self, other: RunningStats) -> None:
        """Adds another set's sums (another shard of the same images' run)."""
        if other.dims != self.dims:
            raise ValueError(f"cannot merge statistics of {other.dims} features into {self.dims}")
        self.count += other.count
        self.total = self.total + other.total
        self.outer = self.outer + other.outer

    def mean(self) -> np.ndarray:
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """Unbiased, as numpy.cov (which pytorch-fid uses)."""
        mu = self.mean()
        return (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)

    def save(self, path: Path) -> None:
        np.savez(path, dims=self.dims, count=self.count, total=self.total, outer=self.outer)

    @classmethod
    def load(cls, path: Path) -> RunningStats:
        with np.load(path) as data:
            return cls(int(data["dims"]), int(data["count"]), data["total"], data["outer"])


def save_stats(path: Path, mu: np.ndarray, sigma: np.ndarray, count: int | None = None) -> None:
    """``mu``/``sigma`` in an ``.npz`` that pytorch-fid reads (its ``--save-stats`` format), plus how many images
    they were computed from when known (an extra array ``count``, which pytorch-fid ignores)."""
    extra = {"count": np.int64(count)} if count is not None else {}
    np.savez_compressed(path, mu=mu, sigma=sigma, **extra)


def load_stats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        if "mu" not in data or "sigma" not in data:
            raise ValueError(f"{path.name} is not a statistics file (expected arrays 'mu' and 'sigma')")
        return data["mu"], data["sigma"]


def load_stats_count(path: Path) -> int | None:
    """How many images a statistics file was computed from; None when it does not say (pytorch-fid's files)."""
    with np.load(path, allow_pickle=False) as data:
        return int(data["count"]) if "count" in data else None


def folder_key(files: list[Path], feature_net: str, extra: str = "") -> str:
    """A key that changes when the folder's files, the feature network or the preprocessing change."""
    digest = hashlib.sha256(feature_net.encode() + extra.encode())
    for path in sorted(files):
        stat = path.stat()
        digest.update(json.dumps([path.name, stat.st_size, stat.st_mtime_ns]).encode())
    return digest.hexdigest()[:24]


def cached_folder_stats(files: list[Path], feature_net: str, resize_mode: str, cache_dir: Path,
                        compute: Callable[[list[Path]], tuple[np.ndarray, np.ndarray]]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of a folder's images, computed once: ``compute(files)`` runs only when no stats file exists for
    this folder path, its files' names/sizes/mtimes, the feature network and the resize mode."""
    folder = str(files[0].parent.resolve()) if files else ""
    path = Path(cache_dir) / f"stats_{folder_key(files, feature_net, folder + '|' + resize_mode)}.npz"
    if path.is_file():
        return load_stats(path)
    mu, sigma = compute(files)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_stats(path, mu, sigma, len(files))
    return mu, sigma
