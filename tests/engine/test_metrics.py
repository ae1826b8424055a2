"""Our FID Inception, FID, KID, IS and precision/recall against pytorch-fid and torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.metrics.features import InceptionFeatures, extract_features, resize_for_inception
from engine.metrics.inception import FIDInceptionV3, InceptionWeightsMissing, load_fid_inception
from engine.metrics.scores import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    mean_and_covariance,
    precision_recall,
)
from engine.metrics.stats import RunningStats, load_stats, save_stats
from tests.pytorch_fid_reference import pytorch_fid_inception


def random_inception(seed: int = 0) -> FIDInceptionV3:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FIDInceptionV3()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def images(count: int, seed: int, size: int = 64) -> torch.Tensor:
    return torch.rand(count, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_features_match_pytorch_fid_with_identical_weights(tmp_path):
    pytest.importorskip("pytorch_fid.inception")
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_inception().state_dict(), weights)
    loaded = load_fid_inception(tmp_path)  # the real loading path, through torch.load(weights_only=True)
    reference = pytorch_fid_inception(weights, resize_input=True, normalize_input=True)
    batch = images(3, seed=1)
    with torch.no_grad():
        theirs = reference(batch.movedim(-1, 1))[0].flatten(1)
    features = InceptionFeatures(loaded).features(batch)
    assert theirs.abs().max() > 1e-3
    assert float((features - theirs).abs().max() / theirs.abs().max()) < 1e-4


def test_a_missing_weights_file_says_what_to_put_where(tmp_path):
    with pytest.raises(InceptionWeightsMissing, match="pt_inception-2015-12-05-6726825d.pth"):
        load_fid_inception(tmp_path)


def feature_sets(dims: int = 16, count: int = 200):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(count, dims))
    b = rng.normal(loc=0.3, scale=1.2, size=(count, dims)) + 0.2 * a
    return a, b


def test_fid_matches_pytorch_fid():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    a, b = feature_sets()
    (mu1, s1), (mu2, s2) = mean_and_covariance(a), mean_and_covariance(b)
    ours = frechet_distance(mu1, s1, mu2, s2)
    theirs = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2)
    assert abs(ours - theirs) / abs(theirs) < 1e-3


def test_kid_and_is_match_torch_fidelity():
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    a, b = feature_sets(count=120)
    kid_mean, kid_std = kernel_inception_distance(a, b, subsets=20, subset_size=50)
    theirs = metric_kid.kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20,
                                               kid_subset_size=50, rng_seed=2020, verbose=False)
    assert abs(kid_mean - theirs["kernel_inception_distance_mean"]) / abs(kid_mean) < 1e-3
    assert abs(kid_std - theirs["kernel_inception_distance_std"]) / abs(kid_std) < 1e-3
    logits = np.random.default_rng(1).normal(scale=3, size=(105, 1008))
    is_mean, is_std = inception_score(logits, splits=10)
    reference = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10)
    assert abs(is_mean - reference["inception_score_mean"]) / is_mean < 1e-3
    assert abs(is_std - reference["inception_score_std"]) / is_std < 1e-3


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    a, _ = feature_sets(count=400)
    rng = np.random.default_rng(2)
    mu, sigma = mean_and_covariance(a)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6
    scores = [frechet_distance(mu, sigma, *mean_and_covariance(a + rng.normal(scale=s, size=a.shape)))
              for s in (0.1, 0.5, 1.0, 2.0)]
    assert scores == sorted(scores) and scores[0] > 0


def test_precision_and_recall():
    a, _ = feature_sets(count=150)
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a, a + 100.0) == (0.0, 0.0)
    subset = precision_recall(a, a[:50])  # every fake is real, but it covers a third of the reals
    assert subset[0] == 1.0 and subset[1] < 0.9


def test_running_stats_equal_one_pass_and_npz_is_readable_by_pytorch_fid(tmp_path):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    a, _ = feature_sets(count=300)
    stats = RunningStats(a.shape[1])
    for chunk in np.array_split(a, 7):
        stats.add(chunk)
    stats.save(tmp_path / "state.npz")
    resumed = RunningStats.load(tmp_path / "state.npz")  # an interrupted run picks up from its saved state
    mu, sigma = mean_and_covariance(a)
    np.testing.assert_allclose(resumed.mean(), mu, atol=1e-10)
    np.testing.assert_allclose(resumed.covariance(), sigma, atol=1e-10)
    save_stats(tmp_path / "ref.npz", mu, sigma)
    theirs = fid_score.calculate_frechet_distance(*load_stats(tmp_path / "ref.npz"), mu, sigma)
    assert abs(theirs) < 1e-6
    with np.load(tmp_path / "ref.npz") as data:  # pytorch-fid reads exactly these keys
        assert set(data.files) == {"mu", "sigma"}


def test_resize_modes_differ_and_extraction_streams():
    batch = images(2, seed=3, size=40)
    bilinear, bicubic = resize_for_inception(batch, "pytorch-fid"), resize_for_inception(batch, "clean-fid")
    assert bilinear.shape == bicubic.shape == (2, 3, 299, 299)
    assert 1e-3 < float((bilinear - bicubic).abs().mean()) < 0.2
    seen = []

    class Mean:
        name, dims = "mean", 3

        def features(self, x):
            return x.mean(dim=(1, 2))

    features = extract_features(Mean(), (images(5, seed=s, size=8) for s in range(3)), progress=seen.append)
    assert features.shape == (15, 3) and seen == [5, 10, 15]


def test_fid_matches_torch_fidelity_on_a_near_singular_covariance():
    metric_fid = pytest.importorskip("torch_fidelity.metric_fid")
    a, b = feature_sets(dims=64, count=40)  # fewer images than dimensions: both covariances are singular
    (mu1, s1), (mu2, s2) = mean_and_covariance(a), mean_and_covariance(b)
    ours = frechet_distance(mu1, s1, mu2, s2)
    theirs = metric_fid.fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    theirs = theirs["frechet_inception_distance"]
    assert abs(ours - theirs) / abs(theirs) < 1e-3
