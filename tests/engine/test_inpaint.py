"""Inpainting preparation as ComfyUI does it: centred crops to the VAE's multiple, grey masked pixels, the grown noise
mask, and the outpainting border's feathering, checked on hand-made images."""

from __future__ import annotations

import pytest
import torch

from engine.inpaint import centre_crop_offsets, fit_mask_and_crop, grow_noise_mask, pad_for_outpaint
from nodes.builtin.inpaint import InpaintModelConditioning, VAEEncodeForInpaint


class RecordingVAE:
    """Encodes to the pixels it was given, so a test sees what a node sent to the VAE."""

    downscale = 8

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels.clone()


def coordinate_image(height: int, width: int) -> torch.Tensor:
    """IMAGE [1, H, W, 3] whose red channel holds the row and green the column of each pixel."""
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    columns = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    return torch.stack([rows, columns, torch.zeros(height, width)], dim=-1)[None]


def test_crop_offsets_centre_the_multiple() -> None:
    assert centre_crop_offsets(13, 21, 8) == (2, 2, 8, 16)  # 5 rows over: 2 above, 3 below
    assert centre_crop_offsets(16, 23, 8) == (0, 3, 16, 16)
    assert centre_crop_offsets(64, 64, 8) == (0, 0, 64, 64)


def test_image_and_mask_are_cropped_alike_around_the_centre() -> None:
    pixels = coordinate_image(13, 21)
    mask = torch.zeros(13, 21)
    mask[2, 2] = 1.0  # the first pixel the crop keeps
    image = fit_mask_and_crop(pixels, mask, 8)
    assert image.pixels.shape == (1, 8, 16, 3) and image.mask.shape == (1, 1, 8, 16)
    assert image.pixels[0, 0, 0, :2].tolist() == [2.0, 2.0]
    assert image.pixels[0, -1, -1, :2].tolist() == [9.0, 17.0]
    assert image.mask[0, 0, 0, 0] == 1.0 and image.mask.sum() == 1.0


def test_the_mask_is_resized_to_the_image_before_cropping() -> None:
    image = fit_mask_and_crop(torch.rand(2, 20, 12, 4), torch.ones(1, 5, 3), 8)
    assert image.pixels.shape == (2, 16, 8, 3) and image.mask.shape == (1, 1, 16, 8)
    assert torch.equal(image.mask, torch.ones(1, 1, 16, 8))


def masked_encoding(node: str, pixels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``node`` sent to the VAE with the masked pixels grey, and the noise mask it put on the latent."""
    if node == "VAEEncodeForInpaint":
        latent = VAEEncodeForInpaint().execute(pixels, RecordingVAE(), mask, 0)[0]
        return latent["samples"], latent["noise_mask"]
    positive, _, latent = InpaintModelConditioning().execute([[torch.zeros(1), {}]], [], RecordingVAE(), pixels, mask,
                                                             True)
    assert torch.equal(latent["samples"], pixels[:, 2:10, 2:18])  # the whole image, cropped alike
    return positive[0][1]["concat_latent_image"], latent["noise_mask"]


@pytest.mark.parametrize("node", ["VAEEncodeForInpaint", "InpaintModelConditioning"])
def test_both_inpaint_nodes_encode_the_centre_crop(node: str) -> None:
    pixels = coordinate_image(13, 21)
    mask = torch.zeros(1, 13, 21)
    mask[:, 4:6, 8:10] = 1.0
    encoded, noise_mask = masked_encoding(node, pixels, mask)
    expected_mask = torch.zeros(1, 1, 8, 16)
    expected_mask[..., 2:4, 6:8] = 1.0  # offset by the crop's (2, 2) corner
    expected = pixels[:, 2:10, 2:18].clone()
    expected[:, 2:4, 6:8] = 0.5  # masked pixels are grey
    assert torch.equal(encoded, expected) and torch.equal(noise_mask, expected_mask)


def test_the_noise_mask_grows_by_a_box() -> None:
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., 5, 5] = 0.6  # rounds to 1
    grown = grow_noise_mask(mask, 6)
    assert grown.shape == mask.shape
    rows, columns = grown[0, 0].nonzero().unbind(1)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (3, 8, 3, 8)  # 6 wide: 2 before, 3 after
    assert torch.equal(grow_noise_mask(mask, 0), mask.round())


def test_outpaint_border_and_feathering() -> None:
    image = torch.rand(1, 10, 10, 3)
    padded, mask = pad_for_outpaint(image, left=8, top=0, right=0, bottom=8, feathering=3)
    assert padded.shape == (1, 18, 18, 3) and torch.equal(padded[:, :10, 8:], image)
    assert padded[:, 10:].eq(0.5).all() and padded[:, :, :8].eq(0.5).all()
    assert mask.shape == (1, 18, 18) and mask[0, 10:].eq(1).all() and mask[0, :, :8].eq(1).all()
    inner = mask[0, :10, 8:]
    torch.testing.assert_close(inner[0, :4], torch.tensor([1.0, 4 / 9, 1 / 9, 0.0]))  # left edge: d = 0, 1, 2, 3
    # As in ComfyUI, the distance to the bottom (and right) edge counts from 1: the last row is not fully masked.
    torch.testing.assert_close(inner[6:, 9], torch.tensor([0.0, 0.0, 1 / 9, 4 / 9]))
    no_feathering = pad_for_outpaint(image, 8, 0, 0, 8, feathering=5)[1]  # would cover half the image
    assert torch.equal(no_feathering[0, :10, 8:], torch.zeros(10, 10))
