"""ComfyUI's ``comfy.diffusers_convert``: diffusers' and Hugging Face's key layouts to the original (LDM/OpenCLIP)
ones, as views of Atelier's converters (``engine.sd.vae_convert``, ``engine.sd.openclip_convert``,
``engine.sd.unet_names``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def convert_vae_state_dict(vae_state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers VAE state dict in the LDM layout."""
    from engine.sd.vae_convert import diffusers_vae_to_ldm

    return diffusers_vae_to_ldm(vae_state_dict)


def convert_unet_state_dict(unet_state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers UNet state dict in the LDM layout (keys without ``model.diffusion_model.``)."""
    from engine.sd.unet_names import diffusers_structure, diffusers_to_ldm

    names = diffusers_to_ldm(diffusers_structure(list(unet_state_dict)), list(unet_state_dict))
    return {names[key]: value for key, value in unet_state_dict.items() if key in names}


def convert_text_enc_state_dict(text_enc_dict: Mapping[str, Any]) -> Mapping[str, Any]:
    """SD1's CLIP-L: the Hugging Face names are the checkpoint's, nothing to convert."""
    return text_enc_dict


def convert_text_enc_state_dict_v20(text_enc_dict: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """An OpenCLIP text tower saved in Hugging Face names (SD2, SDXL's bigG) in OpenCLIP's names; only keys under
    ``prefix`` are read."""
    from engine.sd.openclip_convert import hf_to_openclip

    return hf_to_openclip({key[len(prefix):]: value for key, value in text_enc_dict.items() if key.startswith(prefix)})
