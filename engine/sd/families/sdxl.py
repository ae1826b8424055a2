"""SDXL base (CLIP-L + OpenCLIP-bigG, both penultimate without the final norm; a class vector of bigG's pooled text
and six size embeddings) and the SDXL refiner (bigG alone; five size/aesthetic-score embeddings). Both read their
prediction type from the marker keys some trainers add (``v_pred``, ``ztsnr``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import torch

from engine.sd.families.base import EncoderStyle, ModelFamily, SamplingType, TextEncoderSlot
from engine.sd.latent_format import SDXL
from engine.sd.model_inputs import SIZE_EMBEDDING, sdxl_adm, sdxl_refiner_adm
from engine.sd.unet_config import UNetConfig

SDXL_L_STYLE = EncoderStyle(layer=-2, norm_hidden=False)
SDXL_G_STYLE = EncoderStyle(layer=-2, norm_hidden=False, pad_token=0, save_layout="openclip")
REFINER_SIZE_EMBEDDINGS = 5  # height, width, crop_h, crop_w, aesthetic score


class SDXLFamily(ModelFamily):
    name = "sdxl"
    display_name = "SDXL"
    text_encoders = (TextEncoderSlot("clip_l", "conditioner.embedders.0.transformer.", SDXL_L_STYLE, 768),
                     TextEncoderSlot("clip_g", "conditioner.embedders.1.model.", SDXL_G_STYLE, 1280))
    latent_format = SDXL

    def claims_unet(self, config: UNetConfig) -> bool:
        return bool(config.adm_in_channels)  # asked after the refiner: any other class vector

    def sampling_type(self, unet_sd: Mapping[str, torch.Tensor], markers: Collection[str] = ()) -> SamplingType:
        return ("v_prediction" if "v_pred" in markers else "eps"), "ztsnr" in markers

    def size_embedding(self, options: dict[str, Any], height: int, width: int, negative: bool) -> torch.Tensor:
        return sdxl_adm(options, height, width, negative)


class SDXLRefinerFamily(SDXLFamily):
    name = "sdxl_refiner"
    display_name = "SDXL refiner"
    text_encoders = (TextEncoderSlot("clip_g", "conditioner.embedders.0.model.", SDXL_G_STYLE, 1280),)

    def claims_unet(self, config: UNetConfig) -> bool:
        """The refiner's class vector is its pooled text (as wide as its context) plus five embeddings."""
        adm = config.adm_in_channels
        return bool(adm) and adm - REFINER_SIZE_EMBEDDINGS * SIZE_EMBEDDING == config.context_dim

    def size_embedding(self, options: dict[str, Any], height: int, width: int, negative: bool) -> torch.Tensor:
        return sdxl_refiner_adm(options, height, width, negative)
