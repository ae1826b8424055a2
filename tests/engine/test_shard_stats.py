"""Sharded evaluation statistics: shards recorded in files and merged give what one pass over every image gives."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from engine.metrics import shard_stats
from engine.metrics.evaluate import Reference
from engine.metrics.scores import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    mean_and_covariance,
    precision_recall,
)
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
                                      LengthScorer(), want_logits, run_size=COUNT, clip_model="clip-test")
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


def test_merged_inception_score_is_one_pass_over_the_run_in_index_order(tmp_path):
    extractor = Projection()
    report = sharded(tmp_path, extractor, [0, 11, 12, 30, COUNT]).finalize(None, "all", "model")
    images, indices, _ = dataset()
    in_index_order = extractor.logits(images).numpy()[np.argsort(indices)]
    expected = inception_score(in_index_order, splits=10)  # torch-fidelity's shuffled contiguous splits
    assert report.is_mean == pytest.approx(expected[0], rel=1e-12)
    assert report.is_std == pytest.approx(expected[1], rel=1e-9)
    assert report.is_splits == "10 shuffled contiguous splits (torch-fidelity)" and report.is_mean > 1


class Cycling(Projection):
    """Item i is confidently class i mod 10, as images of a prompt list cycling through the digits 0..9."""

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(images[:, 0, 0, 0].long() % 10, 10).double() * 8


def test_the_inception_score_splits_do_not_follow_a_prompt_list_that_cycles_through_the_classes(tmp_path):
    count = 100
    images = torch.rand(count, 4, 4, 3, generator=torch.Generator().manual_seed(0))
    images[:, 0, 0, 0] = torch.arange(count).float()  # the class of item i is i mod 10
    shards = [shard_statistics(Cycling(), images[start:start + 25], range(start, start + 25), [], None, True,
                               run_size=count) for start in range(0, count, 25)]
    mean, _ = ShardStatistics.merge(shards).inception_score()
    assert mean == pytest.approx(inception_score(Cycling().logits(images).numpy())[0], rel=1e-12)
    assert mean > 4  # split by index mod 10, each split held one class and scored 1.0


def test_every_shard_puts_an_item_in_the_split_one_pass_would():
    whole = shard_stats.inception_score_splits(np.arange(COUNT), COUNT)
    shuffled = whole[np.random.RandomState(2020).permutation(COUNT)]  # the order inception_score cuts
    assert np.bincount(shuffled).tolist() == [(i + 1) * COUNT // 10 - i * COUNT // 10 for i in range(10)]
    assert (np.diff(shuffled) >= 0).all()  # contiguous splits of the shuffled run
    part = np.array([40, 3, 17])
    assert shard_stats.inception_score_splits(part, COUNT).tolist() == whole[part].tolist()
    assert sorted(shard_stats.inception_score_splits(np.arange(4), 4).tolist()) == [0, 1, 2, 3]  # 4 items, 4 splits


def test_kid_and_precision_recall_from_shard_files_equal_the_in_memory_computation(tmp_path):
    extractor = Projection()
    real = reference(with_features=True)
    report = sharded(tmp_path, extractor, [0, 25, COUNT]).finalize(real, "all", "model", kid_subset_size=20)
    images, indices, _ = dataset()
    in_order = extractor.features(images).numpy().astype(np.float32)[np.argsort(indices)]
    assert (report.kid_mean, report.kid_std) == kernel_inception_distance(in_order, real.features, subset_size=20)
    assert (report.precision, report.recall) == precision_recall(real.features, in_order)
    assert report.reference_count == 40 and "(40 images)" in report.protocol()


def test_the_protocol_says_kid_and_precision_recall_used_only_the_kept_features(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_stats, "KEEP_FEATURES", 30)
    report = sharded(tmp_path, Projection(), [0, 20, COUNT]).finalize(reference(with_features=True), "all", "model",
                                                                      kid_subset_size=20)
    assert report.num_images == COUNT and report.feature_images == 30
    assert f"{COUNT} images at 4×4; KID/PR on the first 30;" in report.protocol()
    fid_only = sharded(tmp_path / "fid", Projection(), [0, COUNT]).finalize(reference(with_features=True), "fid", "m")
    assert fid_only.feature_images is None and "KID/PR" not in fid_only.protocol()


def test_kept_features_are_the_lowest_global_indices_however_the_run_is_sharded(tmp_path, monkeypatch):
    monkeypatch.setattr(shard_stats, "KEEP_FEATURES", 8)
    one = sharded(tmp_path / "one", Projection(), [0, COUNT], want_logits=False)
    three = sharded(tmp_path / "three", Projection(), [0, 9, 40, COUNT], want_logits=False)
    assert one.feature_indices.tolist() == three.feature_indices.tolist() == list(range(8))
    np.testing.assert_array_equal(one.features, three.features)
    assert one.inception_score() is None


def test_merging_holds_one_shard_at_a_time(tmp_path):
    images, indices, texts = dataset()
    paths = []
    for start in range(0, COUNT, 10):
        paths.append(tmp_path / f"shard_{start}.npz")
        shard_statistics(Projection(), images[start:start + 10], indices[start:start + 10], [], None, True,
                         run_size=COUNT).save(paths[-1])
    alive: list[weakref.ref] = []

    def loaded() -> Iterator[ShardStatistics]:
        for path in paths:
            gc.collect()
            assert sum(ref() is not None for ref in alive) <= 1  # the shard before the running sum is gone
            shard = ShardStatistics.load(path)
            alive.append(weakref.ref(shard))
            yield shard

    merged = ShardStatistics.merge(loaded())
    together = ShardStatistics.merge([ShardStatistics.load(path) for path in paths])
    assert merged.count == COUNT and merged.stats.outer.tolist() == together.stats.outer.tolist()
    assert merged.inception_score() == together.inception_score()


def test_overlapping_or_differently_made_shards_are_refused(tmp_path):
    images, indices, texts = dataset()
    part = shard_statistics(Projection(), images[:5], indices[:5], texts[:5], None, False, run_size=COUNT)
    with pytest.raises(ValueError, match="overlap"):
        ShardStatistics.merge([part, part])
    other = Projection()
    other.name = "another net"
    with pytest.raises(ValueError, match="made differently"):
        ShardStatistics.merge([part, shard_statistics(other, images[5:9], indices[5:9], texts[5:9], None, False,
                                                      run_size=COUNT)])
    with pytest.raises(ValueError, match="runs of 47 and 48 items"):
        ShardStatistics.merge([part, shard_statistics(Projection(), images[5:9], indices[5:9], texts[5:9], None,
                                                      False, run_size=COUNT + 1)])
    with pytest.raises(ValueError, match="one image per item"):
        shard_statistics(Projection(), images[:5], indices[:4], texts[:4], None, False, run_size=COUNT)
    with pytest.raises(ValueError, match="indices must be 0 to 46"):
        shard_statistics(Projection(), images[:1], [COUNT], texts[:1], None, False, run_size=COUNT)


def test_a_file_that_is_not_shard_statistics_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, format=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        ShardStatistics.load(path)
    np.savez(path, mu=np.zeros(2))
    with pytest.raises(ValueError, match="not a shard statistics file"):
        ShardStatistics.load(path)


def test_a_shard_of_fewer_images_than_dims_stores_its_features_and_merges_the_same(tmp_path):
    extractor = Projection()
    merged = sharded(tmp_path, extractor, [0, 4, 4 + DIMS, 30, COUNT])  # 4 < DIMS, then DIMS, 20 and 17 images
    layouts = []
    for path in sorted(tmp_path.iterdir()):
        with np.load(path, allow_pickle=False) as data:
            layouts.append(("outer" in data, data["fid_features"].shape if "fid_features" in data else None))
    assert layouts == [(False, (4, DIMS)), (True, None), (True, None), (True, None)]  # shard_0 .. shard_3
    images, _, _ = dataset()
    features = extractor.features(images).numpy()
    np.testing.assert_allclose(merged.stats.outer, features.T @ features, rtol=1e-12)
    np.testing.assert_allclose(merged.stats.total, features.sum(axis=0), rtol=1e-12)
    real = reference(with_features=False)
    expected = frechet_distance(*mean_and_covariance(features), *real.statistics())
    assert merged.count == COUNT and merged.finalize(real, "fid", "m").fid == pytest.approx(expected, abs=1e-6)
    small = ShardStatistics.load(tmp_path / "shard_0.npz")
    np.testing.assert_array_equal(small.fid_features, features[:4])  # float64, in item order
    np.testing.assert_allclose(small.stats.outer, features[:4].T @ features[:4], rtol=1e-12)
