"""Stable Diffusion 2.x: OpenCLIP-H (penultimate layer through the final norm, padded with 0, saved in OpenCLIP's
names); 512 models predict eps and 768 models v, told apart by their weights."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import torch

from engine.sd.families.base import EncoderStyle, ModelFamily, SamplingType, TextEncoderSlot
from engine.sd.latent_format import SD15
from engine.sd.unet_config import UNetConfig

SD2_STYLE = EncoderStyle(layer=-2, pad_token=0, save_layout="openclip")
V_PREDICTION_STD = 0.09  # ComfyUI's test for SD2 v-models: this norm bias varies more in v-prediction training
V_PREDICTION_PROBE = "output_blocks.11.1.transformer_blocks.0.norm1.bias"


class SD2Family(ModelFamily):
    name = "sd2"
    display_name = "SD2.x"
    text_encoders = (TextEncoderSlot("clip_h", "cond_stage_model.model.", SD2_STYLE, 1024),)
    latent_format = SD15

    def claims_unet(self, config: UNetConfig) -> bool:
        return config.use_linear_in_transformer or config.context_dim == 1024

    def sampling_type(self, unet_sd: Mapping[str, torch.Tensor], markers: Collection[str] = ()) -> SamplingType:
        """v-prediction when one norm bias varies widely (ComfyUI's test); inpainting (9-channel) models are eps."""
        bias = unet_sd.get(V_PREDICTION_PROBE)
        four_channels = unet_sd["input_blocks.0.0.weight"].shape[1] == self.latent_format.channels
        v = four_channels and bias is not None and float(bias.float().std()) > V_PREDICTION_STD
        return ("v_prediction" if v else "eps"), False
