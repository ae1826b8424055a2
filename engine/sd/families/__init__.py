"""The Stable Diffusion families, one object each (see ``base.ModelFamily``), and how a file's family is found."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from engine.sd.families.base import (
    UNET_PREFIX,
    VAE_PREFIX,
    EncoderStyle,
    ModelFamily,
    SamplingType,
    TextEncoderSlot,
    describe_layouts,
)
from engine.sd.families.sd1 import SD1_STYLE, SD1Family
from engine.sd.families.sd2 import SD2_STYLE, SD2Family
from engine.sd.families.sd2_unclip import SD2UnCLIPFamily
from engine.sd.families.sdxl import SDXL_G_STYLE, SDXL_L_STYLE, SDXLFamily, SDXLRefinerFamily
from engine.sd.unet_config import UNetConfig

SD1 = SD1Family()
SD2 = SD2Family()
SD2_UNCLIP = SD2UnCLIPFamily()
SDXL = SDXLFamily()
SDXL_REFINER = SDXLRefinerFamily()
# Most specific first: the order they are asked.
FAMILIES: tuple[ModelFamily, ...] = (SD2_UNCLIP, SDXL_REFINER, SDXL, SD2, SD1)
TEXT_ENCODER_PREFIXES = tuple(dict.fromkeys(slot.prefix for family in FAMILIES for slot in family.text_encoders))

__all__ = [
    "FAMILIES", "SD1", "SD1_STYLE", "SD2", "SD2_STYLE", "SD2_UNCLIP", "SDXL", "SDXL_G_STYLE", "SDXL_L_STYLE",
    "SDXL_REFINER",
    "TEXT_ENCODER_PREFIXES", "UNET_PREFIX", "VAE_PREFIX", "EncoderStyle", "ModelFamily", "SamplingType",
    "TextEncoderSlot", "describe_layouts", "family_named", "family_of_checkpoint", "family_of_unet",
    "style_for_width",
]


def family_named(name: str) -> ModelFamily:
    """The family whose ``name`` (as persisted: ``sd1``, ``sd2``, ``sd2_unclip``, ``sdxl``,
    ``sdxl_refiner``) is ``name``."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise KeyError(f"no model family named {name!r}; known: {', '.join(f.name for f in FAMILIES)}")


def family_of_checkpoint(sd: Mapping[str, torch.Tensor]) -> ModelFamily | None:
    """The family whose text encoders a single-file checkpoint holds, or None."""
    return next((family for family in FAMILIES if family.claims_checkpoint(sd)), None)


def family_of_unet(config: UNetConfig) -> ModelFamily:
    """The family of a UNet from its config (UNet-only files)."""
    return next(family for family in FAMILIES if family.claims_unet(config))


def style_for_width(width: int) -> EncoderStyle:
    """How to read a standalone text encoder: as the one-encoder family whose encoder is this wide reads it (768
    CLIP-L: SD1, 1024 OpenCLIP-H: SD2, 1280 bigG: the SDXL refiner); SD1's way for other widths (tiny models)."""
    for family in FAMILIES:
        if len(family.text_encoders) == 1 and family.text_encoders[0].width == width:
            return family.text_encoders[0].style
    return SD1_STYLE
