"""Stable Diffusion 1.x: OpenAI's CLIP-L (last layer, padded with EOS), eps prediction, the SD latent scale."""

from __future__ import annotations

from engine.sd.families.base import EncoderStyle, ModelFamily, TextEncoderSlot
from engine.sd.latent_format import SD15
from engine.sd.unet_config import UNetConfig

SD1_STYLE = EncoderStyle()


class SD1Family(ModelFamily):
    name = "sd1"
    display_name = "SD1.x"
    text_encoders = (TextEncoderSlot("clip_l", "cond_stage_model.transformer.", SD1_STYLE, 768),)
    latent_format = SD15

    def claims_unet(self, config: UNetConfig) -> bool:
        return True  # asked last: any UNet the other families do not claim
