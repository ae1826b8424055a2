"""Preparing images for inpainting and outpainting as ComfyUI does: the mask fitted to the image, both centre-cropped
to what the VAE can encode, masked pixels made grey, the noise mask grown, and borders padded for outpainting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class InpaintImage:
    """An image and its mask, cropped alike to multiples of the VAE's downscale factor."""

    pixels: torch.Tensor  # IMAGE [B, H, W, 3]
    mask: torch.Tensor  # [B, 1, H, W], the mask resized to the image (bilinear, not rounded)

    def masked_pixels(self) -> torch.Tensor:
        """The pixels with every masked one (mask rounding to 1) set to grey, what inpainting models expect."""
        keep = (1.0 - self.mask.round()).squeeze(1)[..., None]
        return (self.pixels - 0.5) * keep + 0.5


def centre_crop_offsets(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest region whose sides are multiples of ``multiple``, centred as
    ComfyUI centres it: of an odd remainder, the extra pixel is dropped at the bottom or right."""
    cropped_height, cropped_width = height // multiple * multiple, width // multiple * multiple
    return (height - cropped_height) // 2, (width - cropped_width) // 2, cropped_height, cropped_width


def fit_mask_and_crop(pixels: torch.Tensor, mask: torch.Tensor, multiple: int) -> InpaintImage:
    """``mask`` ([H, W] or [B, H, W], any size) resized to ``pixels``, then both centre-cropped to multiples of
    ``multiple`` (the VAE's downscale factor), as ComfyUI's VAEEncodeForInpaint and InpaintModelConditioning do."""
    height, width = pixels.shape[1:3]
    mask = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]).float(), size=(height, width), mode="bilinear")
    top, left, cropped_height, cropped_width = centre_crop_offsets(height, width, multiple)
    rows, columns = slice(top, top + cropped_height), slice(left, left + cropped_width)
    return InpaintImage(pixels[:, rows, columns, :3], mask[:, :, rows, columns])


def grow_noise_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """The rounded mask [B, 1, H, W] grown by a ``pixels``-wide box (ComfyUI's kernel and padding), so the seams of
    the inpainted region fall inside latent pixels that are re-generated."""
    rounded = mask.round()
    if pixels == 0:
        return rounded
    kernel = torch.ones(1, 1, pixels, pixels)
    grown = F.conv2d(rounded, kernel, padding=math.ceil((pixels - 1) / 2)).clamp(0, 1)
    return grown[..., : mask.shape[-2], : mask.shape[-1]]


def pad_for_outpaint(image: torch.Tensor, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The image on a grey canvas grown by the given borders, and a MASK [1, H, W] that is 1 on the new border and
    fades into the image over ``feathering`` pixels along the padded sides (ComfyUI's ImagePadForOutpaint)."""
    batch, height, width, channels = image.shape
    padded = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5)
    padded[:, top:top + height, left:left + width] = image
    mask = torch.ones(padded.shape[1], padded.shape[2])
    mask[top:top + height, left:left + width] = _feathered_edges(height, width, (left, top, right, bottom),
                                                                 feathering)
    return padded, mask[None]


def _feathered_edges(height: int, width: int, borders: tuple[int, int, int, int], feathering: int) -> torch.Tensor:
    """``((feathering - d) / feathering)²`` within ``feathering`` of a padded side, else 0. As in ComfyUI, the
    distance d counts from 0 at the top and left edges but from 1 at the bottom and right ones, and there is no
    feathering when it would cover half the image."""
    if feathering <= 0 or feathering * 2 >= min(height, width):
        return torch.zeros(height, width)
    left, top, right, bottom = borders
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    columns = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    far = torch.full((height, width), float(max(height, width)))
    distances = [rows if top else far, height - rows if bottom else far,
                 columns if left else far, width - columns if right else far]
    nearest = torch.stack(distances).amin(dim=0)
    return ((feathering - nearest) / feathering).clamp(min=0) ** 2
