"""Mask nodes as a graph uses them: conversions round-trip, composition and growth chain, and errors name the
input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.folders import Folders
from nodes.builtin import masks
from nodes.builtin.masks import CropMask, ImageToMask, InvertMask, MaskToImage, SolidMask, ThresholdMask
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return harness_for(Folders.under(tmp_path), masks)


def test_mask_image_round_trip_and_simple_nodes() -> None:
    mask = torch.rand(2, 5, 7, generator=torch.Generator().manual_seed(0))
    (image,) = MaskToImage().execute(mask)
    assert image.shape == (2, 5, 7, 3)
    assert torch.equal(ImageToMask().execute(image, "green")[0], mask)
    assert torch.equal(InvertMask().execute(mask)[0], 1.0 - mask)
    assert torch.equal(ThresholdMask().execute(mask, 0.5)[0], (mask > 0.5).float())
    assert CropMask().execute(mask, 1, 2, 3, 10)[0].shape == (2, 3, 3)
    assert torch.equal(SolidMask().execute(0.25, 4, 3)[0], torch.full((1, 3, 4), 0.25))


def test_a_dot_composited_grown_and_converted(harness: Harness) -> None:
    prompt = {
        "canvas": node("SolidMask", value=0.0, width=7, height=5),
        "dot": node("SolidMask", value=1.0, width=1, height=1),
        "placed": node("MaskComposite", destination=("canvas", 0), source=("dot", 0), x=3, y=2, operation="add"),
        "grown": node("GrowMask", mask=("placed", 0), expand=1, tapered_corners=True),
        "image": node("MaskToImage", mask=("grown", 0)),
        "back": node("ImageToMask", image=("image", 0), channel="red"),
        "keep": node("Keep", value=("back", 0)),
    }
    back = harness.output(prompt, "back")
    cross = torch.zeros(1, 5, 7)
    cross[0, 1:4, 3] = cross[0, 2, 2:5] = 1.0  # one pixel grows into a cross with tapered corners
    assert torch.equal(back, cross) and torch.equal(harness.results["grown"][0][0], cross)


def test_a_missing_channel_is_named(harness: Harness) -> None:
    prompt = {"canvas": node("SolidMask", value=1.0, width=4, height=4),
              "image": node("MaskToImage", mask=("canvas", 0)),
              "alpha": node("ImageToMask", image=("image", 0), channel="alpha"),
              "keep": node("Keep", value=("alpha", 0))}
    outcome = harness.run(prompt)
    errors = [data.get("exception_message") for event, data in outcome.messages if event == "execution_error"]
    assert outcome.status == "error" and "channel: the image has no alpha channel (3 channels)" in errors[0]
