"""The metrics themselves, over feature arrays (float64 arithmetic; no scipy needed).

FID: Fréchet distance between Gaussians fitted to two feature sets. KID: unbiased MMD with the cubic
polynomial kernel, averaged over random subsets. IS: exp of the mean KL between per-image and marginal class
distributions, over splits. Precision/recall: Kynkäänniemi et al. (2019), k-nearest-neighbour manifolds.
"""

from __future__ import annotations

import numpy as np
import torch


def mean_and_covariance(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """|mu1 - mu2|² + tr(S1 + S2 - 2 (S1 S2)^½), with tr((S1 S2)^½) from the symmetric form
    (S1^½ S2 S1^½)^½, which is stable where the non-symmetric square root is not."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if not (np.isfinite(sigma1).all() and np.isfinite(sigma2).all()):
        raise ValueError("covariance contains NaN or infinity")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    if values.min() < -eps * max(1.0, values.max()):  # badly conditioned: offset as pytorch-fid does
        offset = np.eye(len(sigma1)) * eps
        root1 = _sqrt_psd(sigma1 + offset)
        inner = root1 @ (sigma2 + offset) @ root1
        values = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = np.sqrt(np.clip(values, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def _polynomial_mmd(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    gamma = 1.0 / x.shape[1]
    k_xx = (x @ x.T * gamma + coef0) ** degree
    k_yy = (y @ y.T * gamma + coef0) ** degree
    k_xy = (x @ y.T * gamma + coef0) ** degree
    m = len(x)
    return float((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                 - 2 * k_xy.mean())


def kernel_inception_distance(features1: np.ndarray, features2: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over ``subsets`` random subsets of ``subset_size`` (capped at n)."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set")
    rng = np.random.RandomState(seed)
    values = [_polynomial_mmd(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10,
                    seed: int | None = 2020) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(E[KL(p(y|x) || p(y))]); images are shuffled first (seeded, as
    torch-fidelity does) so that splits do not follow generation order."""
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    count = len(logits)
    if seed is not None:
        logits = logits[np.random.RandomState(seed).permutation(count)]
    log_p = logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = log_p[i * count // splits:(i + 1) * count // splits]
        marginal = part.exp().mean(dim=0, keepdim=True).log()
        scores.append(float((part.exp() * (part - marginal)).sum(dim=1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def _kth_neighbour_radii(features: torch.Tensor, k: int, batch: int = 1024) -> torch.Tensor:
    radii = []
    for start in range(0, len(features), batch):
        distances = torch.cdist(features[start:start + batch], features)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch: int = 1024) -> float:
    inside = []
    for start in range(0, len(points), batch):
        distances = torch.cdist(points[start:start + batch], centres)
        inside.append((distances <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).double().mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fake images inside the real manifold; recall: share of real inside the fake one."""
    real_t, fake_t = torch.as_tensor(np.asarray(real, np.float64)), torch.as_tensor(np.asarray(fake, np.float64))
    precision = _coverage(fake_t, real_t, _kth_neighbour_radii(real_t, k))
    recall = _coverage(real_t, fake_t, _kth_neighbour_radii(fake_t, k))
    return precision, recall
