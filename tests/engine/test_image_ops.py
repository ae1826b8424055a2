"""IMAGE tensors to 8-bit pictures as ComfyUI writes them: truncated levels, greyscale for [H, W] images."""

from __future__ import annotations

import numpy as np
import torch

from engine.image_ops import to_pil


def test_levels_are_truncated_as_comfyui_converts_them():
    image = torch.tensor([[[0.999, 0.5, 1.2], [-0.1, 0.0, 1 / 255]]])  # [H=1, W=2, C=3]
    expected = np.clip(255.0 * image.numpy(), 0, 255).astype(np.uint8)  # ComfyUI's SaveImage
    assert np.array_equal(np.asarray(to_pil(image)), expected)
    assert np.asarray(to_pil(image))[0, 0].tolist() == [254, 127, 255]  # rounding would give 255, 128


def test_an_image_without_channels_is_saved_greyscale():
    picture = to_pil(torch.linspace(0, 1, 12).reshape(3, 4))  # one image of a [B, H, W] batch
    assert picture.mode == "L" and picture.size == (4, 3)
    assert to_pil(torch.zeros(3, 4, 1)).mode == "L"
