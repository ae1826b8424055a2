"""SD2.1 unCLIP (stable-diffusion-2-1-unclip, -l and -h): an SD2.x model whose UNet also takes a CLIP image
embedding as its class vector ``y`` (``engine.sd.unclip``), with the CLIP vision tower in the checkpoint under
``embedder.model.visual.`` (ComfyUI's ``SD21UnclipL`` / ``SD21UnclipH``)."""

from __future__ import annotations

from typing import Any

import torch

from engine.sd.families.sd2 import SD2Family
from engine.sd.state_dict import has_prefix
from engine.sd.unclip import DEFAULT_MERGE_AUGMENTATION, unclip_adm
from engine.sd.unet_config import UNetConfig

PUBLISHED_ADM = (1536, 2048)  # ViT-L/14 (768) and ViT-H/14 (1024) embeddings, each beside its noise-level embedding


class SD2UnCLIPFamily(SD2Family):
    name = "sd2_unclip"
    display_name = "SD2.1 unCLIP"
    clip_vision_prefix = "embedder.model.visual."

    def claims_checkpoint(self, sd: Any) -> bool:
        return super().claims_checkpoint(sd) and has_prefix(sd, self.clip_vision_prefix)

    def claims_unet(self, config: UNetConfig) -> bool:
        return config.context_dim == 1024 and config.adm_in_channels in PUBLISHED_ADM

    def extra_inputs(self, config: UNetConfig, options: dict[str, Any], latent_image: torch.Tensor,
                     denoise_mask: torch.Tensor | None, negative: bool, seed: int = 0
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        _, concat = super().extra_inputs(config, options, latent_image, denoise_mask, negative, seed)
        merge = options.get("unclip_noise_augment_merge", DEFAULT_MERGE_AUGMENTATION)
        y = unclip_adm(options.get("unclip_conditioning"), int(config.adm_in_channels or 0), seed, merge)
        return y, concat
