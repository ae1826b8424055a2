"""Inpainting and outpainting: masks on latents, inpaint encoding, padding, and latent composition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.values import Conditioning, Latent
from nodes.api import Boolean, Int, Node, Output, Socket
from nodes.builtin.conditioning import with_options

if TYPE_CHECKING:
    import torch

    from engine.sd.vae import VAE

MAX_RESOLUTION = 16384


class SetLatentNoiseMask(Node):
    """Only the masked part of the latent is re-generated; the rest is kept."""

    display_name = "Set Latent Noise Mask"
    category = "latent/inpaint"
    inputs = [Socket("samples", "LATENT"), Socket("mask", "MASK")]
    outputs = [Output("LATENT")]

    def execute(self, samples: Latent, mask: torch.Tensor) -> tuple:
        return ({**samples, "noise_mask": mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])},)


class VAEEncodeForInpaint(Node):
    """Encodes an image for inpainting models: masked pixels become grey, the mask grows by a few pixels."""

    display_name = "VAE Encode (for Inpainting)"
    category = "latent/inpaint"
    inputs = [Socket("pixels", "IMAGE"), Socket("vae", "VAE"), Socket("mask", "MASK"),
              Int("grow_mask_by", 6, min=0, max=64, step=1)]
    outputs = [Output("LATENT")]

    def execute(self, pixels: torch.Tensor, vae: VAE, mask: torch.Tensor, grow_mask_by: int) -> tuple:
        from engine.inpaint import fit_mask_and_crop, grow_noise_mask

        image = fit_mask_and_crop(pixels, mask, vae.downscale)
        noise_mask = grow_noise_mask(image.mask, grow_mask_by)
        return ({"samples": vae.encode(image.masked_pixels()), "noise_mask": noise_mask},)


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

    def execute(self, positive: Conditioning, negative: Conditioning, vae: VAE, pixels: torch.Tensor,
                mask: torch.Tensor, noise_mask: bool) -> tuple:
        from engine.inpaint import fit_mask_and_crop

        image = fit_mask_and_crop(pixels, mask, vae.downscale)
        latent = {"samples": vae.encode(image.pixels)}
        if noise_mask:
            latent["noise_mask"] = image.mask
        extra = {"concat_latent_image": vae.encode(image.masked_pixels()), "concat_mask": image.mask}
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
        from engine.inpaint import pad_for_outpaint

        return pad_for_outpaint(image, left, top, right, bottom, feathering)


class LatentComposite(Node):
    """Pastes ``samples_from`` into ``samples_to`` at (x, y) pixels, optionally feathered."""

    category = "latent"
    inputs = [Socket("samples_to", "LATENT"), Socket("samples_from", "LATENT"),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=8), Int("y", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("feather", 0, min=0, max=MAX_RESOLUTION, step=8)]
    outputs = [Output("LATENT")]

    def execute(self, samples_to: Latent, samples_from: Latent, x: int, y: int, feather: int) -> tuple:
        from engine import latent_ops

        return (latent_ops.paste(samples_to, samples_from, x, y, feather),)


NODES = [InpaintModelConditioning, SetLatentNoiseMask, VAEEncodeForInpaint, ImagePadForOutpaint, LatentComposite]
