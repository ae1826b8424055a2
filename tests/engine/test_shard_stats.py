"""Sharded evaluation statistics: shards recorded in files and merged give what one pass over every image gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.metrics import shard_stats
from engine.metrics.evaluate import Reference
from engine.metrics.scores import frechet_distance, kernel_inception_distance, mean_and_covariance, precision_recall
from engine.metrics.shard_stats import ShardStatistics, shard_statistics

COUNT, DIMS, CLASSES = 47, 6, 5


class Projection:
    """A stand-in feature network: fixed random projections of the pixels (features and class logits)."""

    name = "projection"
    dims = DIMS
    implementation = "test (no resize)"
    weights = "projection.bin"

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(1)
        self.to_features = torch.randn(4 * 4 * 3, DIMS, generator=generator, dtype=torch.float64)
        self.to_logits = torch.randn(4 * 4 * 3, CLASSES, generator=generator, dtype=torch.float64) * 3
        self.calls = 0

    def features(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return images.flatten(1).double() @ self.to_features

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1).double() @ self.to_logits


class LengthScorer:
    """A stand-in CLIP scorer whose score depends on the image and on its own text."""

    def scores(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        assert len(prompts) == len(images)
        return images.mean(dim=(1, 2, 3)) * 100 + torch.tensor([float(len(p)) for p in prompts])


def dataset() -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Images in item order with scrambled global indices, so splits and kept features are not just positions."""
    images = torch.rand(COUNT, 4, 4, 3, generator=torch.Generator().manual_seed(0))
    indices = np.random.RandomState(0).permutation(COUNT)
    texts = [f"prompt {'x' * int(index % 7)}" for index in indices]
    return images, indices, texts


def sharded(tmp_path, extractor, bounds: list[int], want_logits: bool = True) -> ShardStatistics:
    """Shards [bounds[i], bounds[i + 1]) recorded to files, loaded back and merged."""
    images, indices, texts = dataset()
    paths = []
    for shard, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        statistics = shard_statistics(extractor, images[start:stop], indices[start:stop], texts[start:stop],
                                      LengthScorer(), want_logits, clip_model="clip-test")
        paths.append(tmp_path / f"shard_{shard}.npz")
        statistics.save(paths[-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary files left
    return ShardStatistics.merge([ShardStatistics.load(path) for path in paths])


def reference(with_features: bool) -> Reference:
    features = np.random.RandomState(5).normal(0.3, 1.2, size=(40, DIMS))
    if with_features:
        return Reference("real", features=features, count=40)
    return Reference("real.npz", *(None, *mean_and_covariance(features)))


def test_merged_fid_clip_and_counts_equal_one_pass(tmp_path):
    extractor = Projection()
    merged = sharded(tmp_path, extractor, [0, 3, 20, 21, COUNT])
    images, indices, texts = dataset()
    features = extractor.features(images).numpy()
    real = reference(with_features=False)
    report = merged.finalize(real, "fid", "model")
    expected = frechet_distance(*mean_and_covariance(features), *real.statistics())
    assert report.fid == pytest.approx(expected, abs=1e-6)
    assert report.num_images == COUNT and report.resolution == "4×4"
    assert report.clip_score == pytest.approx(float(LengthScorer().scores(images, texts).double().mean()), abs=1e-9)
    assert report.clip_model == "clip-test" and report.clip_scaling == "100·max(cos, 0)"
    assert report.implementation == "test (no resize)" and report.feature_weights == "projection.bin"
    assert report.reference_count is None and "(image count unknown)" in report.protocol()
    assert report.is_mean is None  # not asked for with "fid"


def test_inception_score_per_split_is_the_direct_computation_on_index_mod_10(tmp_path):
    extractor = Projection()
    report = sharded(tmp_path, extractor, [0, 11, 12, 30, COUNT]).finalize(None, "all", "model")
    images, indices, _ = dataset()
    log_p = torch.log_softmax(extractor.logits(images), dim=1).numpy()
    scores = []
    for split in range(10):
        part = log_p[indices % 10 == split]
        marginal = np.log(np.exp(part).mean(axis=0))
        scores.append(np.exp((np.exp(part) * (part - marginal)).sum(axis=1).mean()))
    assert report.is_mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert report.is_std == pytest.approx(np.std(scores), rel=1e-9)
    assert "mod 10" in report.is_splits and report.is_mean > 1


def test_kid_and_precision_recall_from_shard_files_equal_the_in_memory_computation(tmp_path):
    extractor = Projection()
    real = reference(with_features=True)
    report = sharded(tmp_path, extractor, [0, 25, COUNT]).finalize(real, "all", "model", kid_subset_size=20)
    images, indices, _ = dataset()
    in_order = extractor.features(images).numpy().astype(np.float32)[np.argsort(indices)]
    assert (report.kid_mean, report.kid_std) == kernel_inception_distance(in_order, real.features, subset_size=20)
    assert (report.precision, report.recall) == precision_recall(real.features, in_order)
    assert report.reference_count == 40 and "(40 images)" in report.protocol()


def test_kept_features_are_the_lowest_global_indices_however_the_run_is_sharded(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_stats, "KEEP_FEATURES", 8)
    one = sharded(tmp_path / "one", Projection(), [0, COUNT], want_logits=False)
    three = sharded(tmp_path / "three", Projection(), [0, 9, 40, COUNT], want_logits=False)
    assert one.feature_indices.tolist() == three.feature_indices.tolist() == list(range(8))
    np.testing.assert_array_equal(one.features, three.features)
    assert one.inception_score() is None


def test_overlapping_or_differently_made_shards_are_refused(tmp_path):
    images, indices, texts = dataset()
    part = shard_statistics(Projection(), images[:5], indices[:5], texts[:5], None, False)
    with pytest.raises(ValueError, match="overlap"):
        ShardStatistics.merge([part, part])
    other = Projection()
    other.name = "another net"
    with pytest.raises(ValueError, match="made differently"):
        ShardStatistics.merge([part, shard_statistics(other, images[5:9], indices[5:9], texts[5:9], None, False)])
    with pytest.raises(ValueError, match="one image per item"):
        shard_statistics(Projection(), images[:5], indices[:4], texts[:4], None, False)


def test_a_file_that_is_not_shard_statistics_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, format=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        ShardStatistics.load(path)
    np.savez(path, mu=np.zeros(2))
    with pytest.raises(ValueError, match="not a shard statistics file"):
        ShardStatistics.load(path)
