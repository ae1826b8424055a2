"""Inpainting and outpainting: masks on latents, inpaint encoding, padding, and latent composition."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nodes.api import Boolean, Int, Node, Output, Socket
from nodes.builtin.conditioning import with_options

MAX_RESOLUTION = 16384


class SetLatentNoiseMask(Node):
    """Only the masked part of the latent is re-generated; the rest is kept."""

    display_name = "Set Latent Noise Mask"
    category = "latent/inpaint"
    inputs = [Socket("samples", "LATENT"), Socket("mask", "MASK")]
    outputs = [Output("LATENT")]

    def execute(self, samples: dict, mask: torch.Tensor) -> tuple:
        return ({**samples, "noise_mask": mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])},)


class VAEEncodeForInpaint(Node):
    """Encodes an image for inpainting models: masked pixels become grey, the mask grows by a few pixels."""

    display_name = "VAE Encode (for Inpainting)"
    category = "latent/inpaint"
    inputs = [Socket("pixels", "IMAGE"), Socket("vae", "VAE"), Socket("mask", "MASK"),
              Int("grow_mask_by", 6, min=0, max=64, step=1)]
    outputs = [Output("LATENT")]

    def execute(self, pixels: torch.Tensor, vae: Any, mask: torch.Tensor, grow_mask_by: int) -> tuple:
        height, width = (pixels.shape[1] // 8) * 8, (pixels.shape[2] // 8) * 8
        mask = F.interpolate(mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float(), size=(pixels.shape[1],
                             pixels.shape[2]), mode="bilinear")
        pixels, mask = pixels[:, :height, :width, :3].clone(), mask[:, :, :height, :width]
        grown = mask.round()
        if grow_mask_by:
            kernel = torch.ones(1, 1, grow_mask_by, grow_mask_by)
            padding = grow_mask_by // 2
            grown = F.conv2d(grown, kernel, padding=padding)[..., :height, :width].clamp(0, 1)
        keep = (1.0 - mask.round()).squeeze(1)[..., None]
        pixels = (pixels - 0.5) * keep + 0.5
        return ({"samples": vae.encode(pixels), "noise_mask": grown},)


class InpaintModelConditioning(Node):
    """Prepares inpainting: the masked image (masked pixels grey) goes to the conditioning, where inpainting
    checkpoints read it with the mask; the latent is the whole image, re-generated only under the mask when
    ``noise_mask`` is on. Works with ordinary checkpoints too (they ignore the extra conditioning)."""

    category = "conditioning/inpaint"
    inputs = [Socket("positive", "CONDITIONING"), Socket("negative", "CONDITIONING"), Socket("vae", "VAE"),
              Socket("pixels", "IMAGE"), Socket("mask", "MASK"),
              Boolean("noise_mask", True, tooltip="Add a noise mask to the latent so sampling only happens within "
                      "the mask. Might improve results or completely break things depending on the model.")]
    outputs = [Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent")]

    def execute(self, positive: list, negative: list, vae: Any, pixels: torch.Tensor, mask: torch.Tensor,
                noise_mask: bool = True) -> tuple:
        height, width = (pixels.shape[1] // 8) * 8, (pixels.shape[2] // 8) * 8
        mask = F.interpolate(mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float(),
                             size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
        top, left = (pixels.shape[1] % 8) // 2, (pixels.shape[2] % 8) // 2
        pixels = pixels[:, top:top + height, left:left + width, :3]
        mask = mask[:, :, top:top + height, left:left + width]
        keep = (1.0 - mask.round()).squeeze(1)[..., None]
        masked_latent = vae.encode((pixels - 0.5) * keep + 0.5)
        latent = {"samples": vae.encode(pixels)}
        if noise_mask:
            latent["noise_mask"] = mask
        extra = {"concat_latent_image": masked_latent, "concat_mask": mask}
        return with_options(positive, **extra), with_options(negative, **extra), latent


class ImagePadForOutpaint(Node):
    """Pads an image for outpainting; the mask marks the new border (feathered into the image)."""

    display_name = "Pad Image for Outpainting"
    category = "image"
    inputs = [Socket("image", "IMAGE"), Int("left", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("top", 0, min=0, max=MAX_RESOLUTION, step=8), Int("right", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("bottom", 0, min=0, max=MAX_RESOLUTION, step=8), Int("feathering", 40, min=0, max=MAX_RESOLUTION)]
    outputs = [Output("IMAGE"), Output("MASK")]

    def execute(self, image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int) -> tuple:
        batch, height, width, channels = image.shape
        padded = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5)
        padded[:, top:top + height, left:left + width] = image
        mask = torch.ones(padded.shape[1], padded.shape[2])
        inner = torch.zeros(height, width)
        if feathering > 0 and feathering * 2 < min(height, width):
            ys = torch.arange(height)[:, None].float()
            xs = torch.arange(width)[None, :].float()
            far = torch.full((height, width), 1e9)
            distances = [(ys if top else far), ((height - 1 - ys) if bottom else far), (xs if left else far),
                         ((width - 1 - xs) if right else far)]
            nearest = torch.stack([d.expand(height, width) for d in distances]).min(dim=0).values
            inner = ((feathering - nearest) / feathering).clamp(0, 1) ** 2
        mask[top:top + height, left:left + width] = inner
        return (padded, mask[None])


class LatentComposite(Node):
    """Pastes ``samples_from`` into ``samples_to`` at (x, y) pixels, optionally feathered."""

    category = "latent"
    inputs = [Socket("samples_to", "LATENT"), Socket("samples_from", "LATENT"),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=8), Int("y", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("feather", 0, min=0, max=MAX_RESOLUTION, step=8)]
    outputs = [Output("LATENT")]

    def execute(self, samples_to: dict, samples_from: dict, x: int, y: int, feather: int) -> tuple:
        target = samples_to["samples"].clone()
        source = samples_from["samples"]
        x, y, feather = x // 8, y // 8, feather // 8
        height = min(source.shape[2], target.shape[2] - y)
        width = min(source.shape[3], target.shape[3] - x)
        patch = source[:, :, :height, :width]
        weight = torch.ones(1, 1, height, width)
        for index in range(feather):
            value = (index + 1) / feather
            if y > 0:
                weight[..., index, :] *= value
            if y + height < target.shape[2]:
                weight[..., height - 1 - index, :] *= value
            if x > 0:
                weight[..., :, index] *= value
            if x + width < target.shape[3]:
                weight[..., :, width - 1 - index] *= value
        region = target[:, :, y:y + height, x:x + width]
        target[:, :, y:y + height, x:x + width] = patch * weight + region * (1 - weight)
        return ({**samples_to, "samples": target},)


NODES = [InpaintModelConditioning, SetLatentNoiseMask, VAEEncodeForInpaint, ImagePadForOutpaint, LatentComposite]
