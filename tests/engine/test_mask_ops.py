"""Mask operations against scipy's grey morphology (what ComfyUI's GrowMask uses) and hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import mask_ops

ndimage = pytest.importorskip("scipy.ndimage")
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
SQUARE = np.ones((3, 3), dtype=bool)


def random_mask(seed: int = 0) -> torch.Tensor:
    return (torch.rand(2, 17, 23, generator=torch.Generator().manual_seed(seed)) > 0.8).float() * \
        torch.rand(2, 17, 23, generator=torch.Generator().manual_seed(seed + 1))


@pytest.mark.parametrize("tapered", [True, False])
@pytest.mark.parametrize("pixels", [3, -2])
def test_grow_matches_scipy_grey_morphology(tapered: bool, pixels: int) -> None:
    mask = random_mask()
    footprint = CROSS if tapered else SQUARE
    expected = []
    for image in mask.numpy():
        for _ in range(abs(pixels)):
            morph = ndimage.grey_dilation if pixels > 0 else ndimage.grey_erosion
            image = morph(image, footprint=footprint, mode="nearest")
        expected.append(image)
    got = mask_ops.grow(mask, pixels, tapered)
    assert got.shape == mask.shape
    np.testing.assert_allclose(got.numpy(), np.stack(expected), atol=1e-7)
    assert not torch.equal(got, mask)


def test_feather_ramps_each_edge() -> None:
    out = mask_ops.feather(torch.ones(1, 6, 8), left=4, top=0, right=2, bottom=3)
    np.testing.assert_allclose(out[0, 0].numpy(), [0.25, 0.5, 0.75, 1, 1, 1, 1, 0.5])
    np.testing.assert_allclose(out[0, :, 5].numpy(), [1, 1, 1, 1, 2 / 3, 1 / 3])


def test_composite_operations_and_clipping() -> None:
    destination = torch.tensor([[[0.2, 0.6, 1.0], [0.0, 0.4, 0.8]]])
    source = torch.tensor([[[1.0, 0.5]]])
    expected = {
        "multiply": [[0.2, 0.6, 0.5], [0.0, 0.4, 0.8]],
        "add": [[0.2, 1.0, 1.0], [0.0, 0.4, 0.8]],
        "subtract": [[0.2, 0.0, 0.5], [0.0, 0.4, 0.8]],
        "and": [[0.2, 1.0, 0.0], [0.0, 0.4, 0.8]],  # logic on rounded values; 0.5 rounds to 0 (half to even)
        "or": [[0.2, 1.0, 1.0], [0.0, 0.4, 0.8]],
        "xor": [[0.2, 0.0, 1.0], [0.0, 0.4, 0.8]],
    }
    for operation, values in expected.items():
        got = mask_ops.composite(destination, source, 1, 0, operation)
        np.testing.assert_allclose(got[0].numpy(), values, atol=1e-6, err_msg=operation)
    with pytest.raises(ValueError, match="unknown mask operation"):
        mask_ops.composite(destination, source, 0, 0, "divide")


def test_feather_wider_than_the_mask_uses_the_mask_size() -> None:
    out = mask_ops.feather(torch.ones(1, 2, 4), left=8, top=0, right=0, bottom=0)
    np.testing.assert_allclose(out[0, 0].numpy(), [0.25, 0.5, 0.75, 1.0])
