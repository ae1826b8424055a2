"""Mask nodes as a graph uses them: conversions round-trip, and errors name the input."""

from __future__ import annotations

import pytest
import torch

from nodes.builtin.masks import CropMask, GrowMask, ImageToMask, InvertMask, MaskToImage, SolidMask, ThresholdMask


def test_mask_image_round_trip_and_simple_nodes() -> None:
    mask = torch.rand(2, 5, 7, generator=torch.Generator().manual_seed(0))
    (image,) = MaskToImage().execute(mask)
    assert image.shape == (2, 5, 7, 3)
    assert torch.equal(ImageToMask().execute(image, "green")[0], mask)
    assert torch.equal(InvertMask().execute(mask)[0], 1.0 - mask)
    assert torch.equal(ThresholdMask().execute(mask, 0.5)[0], (mask > 0.5).float())
    assert CropMask().execute(mask, 1, 2, 3, 10)[0].shape == (2, 3, 3)
    assert torch.equal(SolidMask().execute(0.25, 4, 3)[0], torch.full((1, 3, 4), 0.25))
    grown = GrowMask().execute(torch.zeros(1, 5, 5).index_put_((torch.tensor([0]), torch.tensor([2]),
                                                                 torch.tensor([2])), torch.tensor(1.0)), 1, True)[0]
    assert grown.sum() == 5  # a single pixel grows into a cross with tapered corners


def test_a_missing_channel_is_named() -> None:
    with pytest.raises(ValueError, match="channel: the image has no alpha channel"):
        ImageToMask().execute(torch.zeros(1, 4, 4, 3), "alpha")
