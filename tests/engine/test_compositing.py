"""Compositing and blending, checked pixel by pixel against ComfyUI's formulas on hand-made images."""

from __future__ import annotations

import pytest
import torch

from engine.compositing import blend, composite
from nodes.builtin.compositing import ImageScaleToTotalPixels, LatentBlend


def solid(value: float, height: int = 4, width: int = 6, batch: int = 1) -> torch.Tensor:
    return torch.full((batch, height, width, 3), value)


def test_composite_places_cuts_off_and_masks() -> None:
    out = composite(solid(0.0), solid(1.0, 2, 3), x=4, y=1)
    assert out[0, 1:3, 4:6].eq(1).all() and out[0, 0].eq(0).all() and out[0, :, :4].eq(0).all()  # cut at the edge
    mask = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    masked = composite(solid(0.2), solid(1.0, 2, 3), x=0, y=0, mask=mask)
    torch.testing.assert_close(masked[0, 0, :3, 0], torch.tensor([1.0, 0.6, 0.2]))
    assert masked[0, 1].eq(0.2).all()
    resized = composite(solid(0.0, batch=2), solid(0.7, 1, 1), x=0, y=0, resize_source=True)
    assert resized.shape == (2, 4, 6, 3) and torch.allclose(resized, solid(0.7, batch=2))


@pytest.mark.parametrize(("mode", "raw"), [  # mode(0.3, 0.8) before mixing and clamping
    ("normal", 0.8), ("multiply", 0.24), ("screen", 0.86), ("overlay", 0.48),
    ("soft_light", 0.3 + (2 * 0.8 - 1) * (0.3**0.5 - 0.3)), ("difference", -0.5)])
def test_blend_modes(mode: str, raw: float) -> None:
    for factor in (1.0, 0.5):
        out = blend(solid(0.3), solid(0.8), factor, mode)
        expected = min(1.0, max(0.0, 0.3 * (1 - factor) + raw * factor))
        torch.testing.assert_close(out, solid(expected), rtol=1e-5, atol=1e-6)


def test_scale_to_total_pixels_keeps_the_aspect() -> None:
    (out,) = ImageScaleToTotalPixels().execute(torch.rand(1, 300, 400, 3), "bilinear", 0.25)
    assert out.shape == (1, 443, 591, 3)  # 0.25 * 1024^2 = 262,144 pixels at 4:3


def test_latent_blend() -> None:
    a, b = {"samples": torch.ones(1, 4, 8, 8)}, {"samples": torch.zeros(1, 4, 16, 16)}
    (out,) = LatentBlend().execute(a, b, 0.25)
    assert out["samples"].shape == (1, 4, 8, 8) and torch.allclose(out["samples"], torch.full((1, 4, 8, 8), 0.25))


def test_rgb_onto_rgba_and_centre_cropped_blends() -> None:
    rgba = torch.zeros(1, 4, 6, 4)
    out = composite(rgba, solid(1.0, 2, 2), 0, 0)
    assert out.shape == (1, 4, 6, 4) and out[0, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]  # alpha made opaque
    wide = torch.zeros(1, 8, 16, 3)
    wide[:, :, :4] = 1.0  # white only in the left quarter, which a centre crop to a square drops
    assert float(blend(solid(0.0, 8, 8), wide, 1.0, "normal").max()) == 0.0
