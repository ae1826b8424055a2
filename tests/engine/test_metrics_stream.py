"""Resumable streaming evaluation and the folder statistics cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from engine.metrics.evaluate import Reference, evaluate, stream_features
from engine.metrics.stats import cached_folder_stats


class MeanColour:
    """A cheap feature network: per-channel means and standard deviations (6 dims)."""

    name, dims = "mean-colour", 6

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images.mean(dim=(1, 2)), images.std(dim=(1, 2))], dim=1)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images) * 10


def batches(count: int) -> list[torch.Tensor]:
    return [torch.rand(8, 16, 16, 3, generator=torch.Generator().manual_seed(i)) for i in range(count)]


def interrupted(items: list[torch.Tensor], stop_after: int):
    for index, batch in enumerate(items):
        if index == stop_after:
            raise KeyboardInterrupt
        yield batch


def test_resume_after_interrupt_gives_the_same_result_as_one_pass(tmp_path):
    items = batches(6)
    reference = Reference("ref", features=MeanColour().features(torch.cat(batches(4))).double().numpy())
    one_pass = evaluate(MeanColour(), iter(items), reference, "all", "one pass", kid_subset_size=16)
    with pytest.raises(KeyboardInterrupt):
        evaluate(MeanColour(), interrupted(items, 4), reference, "all", "resumed", work_dir=tmp_path)
    assert len(list(tmp_path.glob("batch_*.npz"))) == 4
    calls = []

    def lazy(batch: torch.Tensor):
        return lambda: calls.append(1) or batch

    resumed = evaluate(MeanColour(), (lazy(b) for b in items), reference, "all", "one pass", work_dir=tmp_path,
                       kid_subset_size=16)
    assert len(calls) == 2  # only the two batches that were not stored ran through the network
    assert resumed == one_pass
    assert one_pass.fid is not None and one_pass.fid > 0
    assert one_pass.feature_images == 48 and "KID/PR" not in one_pass.protocol()  # every image: nothing to say


def test_the_protocol_says_kid_and_precision_recall_used_only_the_first_images(monkeypatch):
    from engine.metrics import evaluate as evaluation

    monkeypatch.setattr(evaluation, "KEEP_FEATURES", 16)
    reference = Reference("ref", features=MeanColour().features(torch.cat(batches(4))).double().numpy())
    report = evaluate(MeanColour(), iter(batches(6)), reference, "all", "model", kid_subset_size=16)
    assert report.num_images == 48 and report.feature_images == 16
    assert "48 images; KID/PR on the first 16;" in report.protocol()


def test_streamed_statistics_match_a_single_array():
    stats, kept, logits = stream_features(MeanColour(), iter(batches(5)), want_logits=True)
    everything = MeanColour().features(torch.cat(batches(5))).double().numpy()
    np.testing.assert_allclose(stats.mean(), everything.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats.covariance(), np.cov(everything, rowvar=False), atol=1e-6)
    assert kept.shape == (40, 6) and logits is not None and logits.shape == (40, 6)


def test_folder_stats_are_computed_once_and_change_with_the_files(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(b"x" * 10)
    calls = []

    def compute(files):
        calls.append(len(files))
        return np.zeros(3), np.eye(3)

    files = sorted(folder.iterdir())
    first = cached_folder_stats(files, "net", "pytorch-fid", tmp_path / "cache", compute)
    again = cached_folder_stats(files, "net", "pytorch-fid", tmp_path / "cache", compute)
    assert calls == [2] and np.array_equal(first[1], again[1])
    cached_folder_stats(files, "net", "clean-fid", tmp_path / "cache", compute)
    assert calls == [2, 2]  # another resize mode is another key
    (folder / "a.png").write_bytes(b"x" * 11)
    os.utime(folder / "a.png", ns=(1, 1))
    cached_folder_stats(files, "net", "pytorch-fid", tmp_path / "cache", compute)
    assert calls == [2, 2, 2]  # a changed file invalidates the cache
