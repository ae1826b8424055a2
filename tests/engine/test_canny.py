"""Canny edges: a square's outline is found, flat areas are not, thresholds and hysteresis behave."""

from __future__ import annotations

import torch

from engine.canny import canny


def square(size: int = 48, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    image = torch.full((1, size, size, 3), low)
    image[:, 16:32, 16:32] = high
    return image


def test_outline_of_a_square_and_nothing_inside_or_outside():
    edges = canny(square())
    assert edges.shape == (1, 48, 48, 3)
    mask = edges[0, ..., 0] > 0.5
    assert mask[15:17, 18:30].any(dim=0).all()  # the top border is found along its length
    assert mask[16:33, 14:18].any(dim=1)[2:-2].all()  # and the left one
    assert not mask[20:28, 20:28].any()  # flat inside
    assert not mask[:8, :8].any() and not mask[40:, 40:].any()  # flat outside
    assert 40 < mask.sum() < 200  # thin edges, not blobs


def test_weak_edges_need_a_low_threshold():
    faint = square(low=0.4, high=0.5)
    assert canny(faint, 0.4, 0.8).sum() == 0
    assert canny(faint, 0.05, 0.1).sum() > 0


def test_hysteresis_keeps_weak_pixels_connected_to_strong_ones():
    image = torch.zeros(1, 40, 40, 3)
    image[:, :, 20:] = torch.linspace(0.2, 1.0, 40)[:, None, None]  # contrast grows down the edge
    only_strong = canny(image, 0.6, 0.6)[0, ..., 0].sum()
    with_weak = canny(image, 0.2, 0.6)[0, ..., 0].sum()
    assert with_weak > only_strong > 0
