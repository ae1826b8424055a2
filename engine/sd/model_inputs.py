"""Inputs a UNet takes besides the noisy latent and the text: SDXL's size vector and inpainting models' extra
channels. Conventions and defaults follow ComfyUI (``encode_adm`` and ``concat_cond``), so workflows give the same
images.

- SDXL base: ``y = [pooled (1280) | emb(height) emb(width) emb(crop_h) emb(crop_w) emb(target_h) emb(target_w)]``,
  each a 256-wide sinusoidal embedding; sizes default to the latent's pixel size, crops to 0.
- SDXL refiner: ``y = [pooled | emb(height) emb(width) emb(crop_h) emb(crop_w) emb(aesthetic_score)]``, the score
  6.0 for the positive prompt and 2.5 for the negative one unless set.
- Inpainting UNets (4 latent + 5 extra input channels) see ``[mask | masked image latent]``: the mask and image
  given by InpaintModelConditioning, else the sampler's noise mask and start latent, else "no mask" (ones) and a
  blank image.
- InstructPix2Pix UNets (4 + 4) see the image latent InstructPixToPixConditioning set, unscaled (the VAE's
  posterior mean, as ComfyUI's ``IP2P.concat_cond`` and diffusers' pipeline give it), else zeros; for the
  positive and the negative prompt alike (plain CFG, as ComfyUI; not IP2P's three-way guidance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from engine.image_ops import resize_samples
from engine.sd.unet import timestep_embedding

SIZE_EMBEDDING = 256
# ComfyUI's latent for "no image" per channel (``blank_inpaint_image_like``: pixel zero in latent space).
BLANK_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)


def adm_vector(options: dict[str, Any], sizes: torch.Tensor, adm_channels: int) -> torch.Tensor:
    """``y`` [1, adm_channels]: the pooled text output (zeros when the conditioning has none) and ``sizes``."""
    pooled = options.get("pooled_output")
    width = adm_channels - sizes.shape[1]
    if pooled is None:
        pooled = torch.zeros(1, width)
    pooled = pooled.float().reshape(-1, pooled.shape[-1])[:1]
    if pooled.shape[1] != width:
        raise ValueError(f"the conditioning's pooled output is {pooled.shape[1]} wide but this model expects {width}: "
                         "it was encoded with another model family's text encoder")
    return torch.cat([pooled, sizes], dim=1)


def _embed(values: list[float]) -> torch.Tensor:
    return timestep_embedding(torch.tensor(values, dtype=torch.float32), SIZE_EMBEDDING).reshape(1, -1)


def sdxl_adm(options: dict[str, Any], height: int, width: int, negative: bool) -> torch.Tensor:
    height, width = int(options.get("height", height)), int(options.get("width", width))
    sizes = [height, width, options.get("crop_h", 0), options.get("crop_w", 0),
             options.get("target_height", height), options.get("target_width", width)]
    return _embed([float(v) for v in sizes])


def sdxl_refiner_adm(options: dict[str, Any], height: int, width: int, negative: bool) -> torch.Tensor:
    score = options.get("aesthetic_score", 2.5 if negative else 6.0)
    sizes = [options.get("height", height), options.get("width", width), options.get("crop_h", 0),
             options.get("crop_w", 0), score]
    return _embed([float(v) for v in sizes])


def _fit(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` [b,c,h,w] resized to ``like``'s size and repeated to its batch."""
    if image.shape[-2:] != like.shape[-2:]:
        image = F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False)
    repeats = -(-like.shape[0] // image.shape[0])
    return image.repeat(repeats, 1, 1, 1)[: like.shape[0]]


def inpaint_concat(options: dict[str, Any], latent_image: torch.Tensor, denoise_mask: torch.Tensor | None,
                   process_in: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The 5 extra channels of an inpainting UNet [B, 1 + 4, h, w]; ``latent_image`` is the sampler's start latent
    (model space), ``process_in`` maps VAE-space latents to model space."""
    mask = options.get("concat_mask", denoise_mask)
    image = options.get("concat_latent_image")
    image = latent_image if image is None else process_in(image.float())
    if mask is None:
        blank = torch.tensor(BLANK_LATENT, dtype=latent_image.dtype)[None, :, None, None]
        return torch.cat([torch.ones_like(latent_image[:, :1]), blank.expand_as(latent_image)], dim=1)
    mask = mask.float().reshape(-1, 1, *mask.shape[-2:])
    return torch.cat([_fit(mask, latent_image).round(), _fit(image, latent_image)], dim=1)


def batch_indices(size: int, batch: int) -> list[int]:
    """Which of ``size`` items fill a batch of ``batch`` entries, spread evenly (ComfyUI's nearest-item rule)."""
    if size == batch or batch <= 1:
        return list(range(min(size, batch)))
    if batch < size:
        step = (size - 1) / (batch - 1)  # computed once, as ComfyUI does, so rounding lands on the same items
        return [min(round(i * step), size - 1) for i in range(batch)]
    step = size / batch
    return [min(math.floor((i + 0.5) * step), size - 1) for i in range(batch)]


def resize_to_batch(samples: torch.Tensor, batch: int) -> torch.Tensor:
    """``samples`` [b, ...] spread over ``batch`` entries as ComfyUI's ``resize_to_batch_size`` spreads them."""
    if samples.shape[0] == batch or batch <= 1:
        return samples[:batch]
    return samples[batch_indices(samples.shape[0], batch)]


def ip2p_concat(options: dict[str, Any], latent_image: torch.Tensor) -> torch.Tensor:
    """The 4 extra channels of an InstructPix2Pix UNet [B, 4, h, w]: the conditioning's ``concat_latent_image``
    (VAE space, used as it is), centre-cropped and resized to the latent and spread over its batch; zeros without."""
    image = options.get("concat_latent_image")
    if image is None:
        return torch.zeros_like(latent_image)
    image = image.float()
    if image.shape[-2:] != latent_image.shape[-2:]:
        image = resize_samples(image, latent_image.shape[-1], latent_image.shape[-2], "bilinear", "center")
    return resize_to_batch(image, latent_image.shape[0])
