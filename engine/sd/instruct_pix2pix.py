"""InstructPixToPixConditioning: the image an InstructPix2Pix model edits, as its UNet's extra input channels.

The pixels are centre-cropped to multiples of 8 and encoded; the latent (unscaled, the VAE's posterior mean) goes
into both conditionings as ``concat_latent_image`` and the UNet sees it beside the noisy latent at every step
(``engine.sd.model_inputs.ip2p_concat``). The LATENT to start from is zeros of the same size, as ComfyUI's node.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.conditioning import set_values
from engine.inpaint import centre_crop_offsets


def ip2p_conditioning(positive: list, negative: list, vae: Any, pixels: torch.Tensor
                      ) -> tuple[list, list, dict[str, torch.Tensor]]:
    """(positive, negative, LATENT) with the encoded image set on every entry of both conditionings."""
    top, left, height, width = centre_crop_offsets(pixels.shape[1], pixels.shape[2], 8)
    image_latent = vae.encode(pixels[:, top:top + height, left:left + width, :3])
    values = {"concat_latent_image": image_latent}
    return set_values(positive, values), set_values(negative, values), {"samples": torch.zeros_like(image_latent)}
