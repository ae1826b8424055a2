"""Engine objects from state dicts (keys without their checkpoint prefix): the UNet as a MODEL, the VAE and
the text encoders, whichever file they came from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.latent_format import SD15, SDXL
from engine.sd.materialize import build_with_weights
from engine.sd.model import DiffusionModel
from engine.sd.model_inputs import sdxl_adm, sdxl_refiner_adm
from engine.sd.state_dict import WeightsFileError, load_state_dict
from engine.sd.unet import UNetConfig, UNetModel, detect_unet_config
from engine.sd.vae import VAE, AutoencoderKL, detect_vae_config
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae


class CheckpointError(ValueError):
    """A file that is not (or not yet) a loadable model; the message names the file and what was expected."""


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_state_dict(path)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from e


def unet_family(config: UNetConfig) -> str:
    """The family of a UNet from its config. A class vector means SDXL: the refiner's is its pooled text (as wide as
    its context) plus 5 size/score embeddings, the base's pooled bigG text plus 6 size embeddings."""
    if config.adm_in_channels:
        return "sdxl_refiner" if config.adm_in_channels - 5 * 256 == config.context_dim else "sdxl"
    if config.use_linear_in_transformer or config.context_dim == 1024:
        return "sd2"
    return "sd1"


V_PREDICTION_STD = 0.09  # ComfyUI's test for SD2 v-models: this norm bias varies more in v-prediction training
EDM_MARKERS = ("edm_mean", "edm_std", "edm_vpred.sigma_max", "edm_vpred.sigma_min")


def sampling_type(unet_sd: Mapping[str, torch.Tensor], family: str, markers: Collection[str] = ()) -> tuple[str, bool]:
    """(prediction, zero terminal SNR) of a UNet, read as ComfyUI reads it: SD2 4-channel UNets by how much one
    norm bias varies, SDXL files by the marker keys (``v_pred``, ``ztsnr``) some trainers add next to the weights.
    Raises ``CheckpointError`` for EDM models (Playground v2.5 and EDM v-prediction), which need another schedule."""
    edm = [key for key in EDM_MARKERS if key in markers]
    if edm:
        raise CheckpointError(f"EDM-schedule models (marker key {edm[0]!r}, e.g. Playground v2.5) are not supported")
    if family == "sd2":
        bias = unet_sd.get("output_blocks.11.1.transformer_blocks.0.norm1.bias")
        four_channels = unet_sd["input_blocks.0.0.weight"].shape[1] == 4  # SD2 inpainting is eps
        v = four_channels and bias is not None and float(bias.float().std()) > V_PREDICTION_STD
        return ("v_prediction" if v else "eps"), False
    if family.startswith("sdxl"):
        return ("v_prediction" if "v_pred" in markers else "eps"), "ztsnr" in markers
    return "eps", False


def unet_from_state_dict(sd: Mapping[str, torch.Tensor], family: str | None = None,
                         markers: Collection[str] = ()) -> DiffusionModel:
    """A ``DiffusionModel`` from UNet keys without prefix; weights are adopted, not copied. ``markers`` are the other
    keys of the file, which may say how the model was trained."""
    config = detect_unet_config(sd)
    family = family or unet_family(config)
    prediction, zsnr = sampling_type(sd, family, markers)
    unet = build_with_weights(lambda: UNetModel(config), sd)
    xl = family.startswith("sdxl")
    adm = {"sdxl": sdxl_adm, "sdxl_refiner": sdxl_refiner_adm}.get(family) if config.adm_in_channels else None
    return DiffusionModel(unet, ModelSamplingDiscrete(prediction, zsnr=zsnr), SDXL if xl else SD15, family, adm)


def vae_from_state_dict(sd: Mapping[str, torch.Tensor]) -> VAE:
    """A ``VAE`` from LDM-layout keys without prefix (diffusers layout is converted)."""
    if is_diffusers_vae(sd):
        sd = diffusers_vae_to_ldm(sd)
    vae_keys = {k: v for k, v in sd.items() if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant"))}
    model = build_with_weights(lambda: AutoencoderKL(detect_vae_config(vae_keys)), vae_keys)
    return VAE(model, SD15)


def clip_from_state_dict(sd: Mapping[str, torch.Tensor], style_name: str = "sd1") -> Any:
    """One text encoder from its checkpoint keys (prefix removed): transformers' names (with or without the
    ``text_model.`` level) or OpenCLIP's, read in the given family's style."""
    # Imported here: the text encoder pulls in transformers, which is slow to import.
    from engine.sd.clip import SD1_STYLE, SD2_STYLE, SDXL_G_STYLE, SDXL_L_STYLE, load_clip_from_state_dict
    from engine.sd.openclip_convert import is_openclip, openclip_to_hf

    style = {"sd1": SD1_STYLE, "sd2": SD2_STYLE, "sdxl_l": SDXL_L_STYLE, "sdxl_g": SDXL_G_STYLE}[style_name]
    if is_openclip(sd):
        return load_clip_from_state_dict(openclip_to_hf(sd), style, "gelu")
    hf = {(k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): v for k, v in sd.items()}
    # OpenAI's CLIP-L uses quick-GELU; the OpenCLIP towers (H 1024, bigG 1280) saved in transformers' names, GELU.
    act = "gelu" if text_encoder_width(hf) in (1024, 1280) else "quick_gelu"
    return load_clip_from_state_dict(hf, style, act)


def text_encoder_width(sd: Mapping[str, torch.Tensor]) -> int:
    for key in ("text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "embeddings.token_embedding.weight"):
        if key in sd:
            return int(sd[key].shape[1])
    raise KeyError("no token embedding (text_model.embeddings.token_embedding.weight or token_embedding.weight)")
