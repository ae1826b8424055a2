"""Engine objects from state dicts (keys without their checkpoint prefix): the UNet as a MODEL, the VAE and
the text encoders, whichever file they came from; and the dtypes their weights are read in."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from engine.device import AUTO, Devices
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.families import SD1_STYLE, EncoderStyle, ModelFamily, SamplingType, family_of_unet
from engine.sd.latent_format import SD15
from engine.sd.materialize import build_with_weights
from engine.sd.model import DiffusionModel
from engine.sd.safetensors_file import DtypeFor
from engine.sd.state_dict import WeightsFileError, load_state_dict
from engine.sd.unet import UNetModel, detect_unet_config
from engine.sd.vae import VAE, AutoencoderKL, detect_vae_config, vae_compute_dtype
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae

ComputeDtype = Callable[[torch.dtype, torch.device], torch.dtype]  # (weight dtype, device) -> dtype it runs in


class CheckpointError(ValueError):
    """A file that is not (or not yet) a loadable model; the message names the file and what was expected."""


def read_weights(path: Path, dtype_for: DtypeFor | None = None) -> dict[str, torch.Tensor]:
    """A weights file's tensors (see ``load_state_dict``); unreadable files raise ``CheckpointError``."""
    try:
        return load_state_dict(path, dtype_for)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from e


def resident(devices: Devices, compute: ComputeDtype) -> DtypeFor:
    """The dtype to read a model's weights in: the one it computes in when it computes where weights are kept (the
    CPU), so that no second, converted copy is ever made; else (weights kept on the CPU, run on a GPU) the file's.
    ``compute`` is the part's own rule under ``devices`` (``Devices.compute_dtype``, or the VAE's)."""
    device = devices.compute_device()
    keep_as_stored = device.type != devices.offload_device().type

    def dtype_for(key: str, stored: torch.dtype) -> torch.dtype:
        if keep_as_stored or not stored.is_floating_point:
            return stored
        return compute(stored, device)

    return dtype_for


def model_dtypes(devices: Devices) -> DtypeFor:
    """UNet and text-encoder weights: read in their compute dtype on the CPU (bf16 for half-precision files on
    CPUs with native bf16, unless ``devices`` says otherwise)."""
    return resident(devices, devices.compute_dtype)


def vae_dtypes(devices: Devices) -> DtypeFor:
    """VAE weights: read in the dtype the VAE computes in (``engine.sd.vae.vae_compute_dtype``)."""
    return resident(devices, lambda stored, device: vae_compute_dtype(stored, device, devices))


def checkpoint_dtypes(vae_prefix: str, devices: Devices) -> DtypeFor:
    """A single-file checkpoint: the VAE's keys (under ``vae_prefix``) by the VAE's rule, all others by the
    model's."""
    model, vae = model_dtypes(devices), vae_dtypes(devices)
    return lambda key, stored: (vae if key.startswith(vae_prefix) else model)(key, stored)


EDM_MARKERS = ("edm_mean", "edm_std", "edm_vpred.sigma_max", "edm_vpred.sigma_min")


def sampling_type(unet_sd: Mapping[str, torch.Tensor], family: ModelFamily,
                  markers: Collection[str] = ()) -> SamplingType:
    """(prediction, zero terminal SNR) of a UNet, read as ComfyUI reads it (each family says how: SD2 4-channel UNets
    by how much one norm bias varies, SDXL files by the marker keys ``v_pred``, ``ztsnr`` some trainers add).
    Raises ``CheckpointError`` for EDM models (Playground v2.5 and EDM v-prediction), which need another schedule."""
    edm = [key for key in EDM_MARKERS if key in markers]
    if edm:
        raise CheckpointError(f"EDM-schedule models (marker key {edm[0]!r}, e.g. Playground v2.5) are not supported")
    return family.sampling_type(unet_sd, markers)


def unet_from_state_dict(sd: Mapping[str, torch.Tensor], family: ModelFamily | None = None,
                         markers: Collection[str] = (), devices: Devices = AUTO) -> DiffusionModel:
    """A ``DiffusionModel`` computing as ``devices`` says, from UNet keys without prefix; weights are adopted, not
    copied. The family is read from the UNet's config unless given; ``markers`` are the other keys of the file,
    which may say how the model was trained."""
    config = detect_unet_config(sd)
    family = family or family_of_unet(config)
    prediction, zsnr = sampling_type(sd, family, markers)
    unet = build_with_weights(lambda: UNetModel(config), sd)
    return DiffusionModel(unet, ModelSamplingDiscrete(prediction, zsnr=zsnr), family.latent_format, family, devices)


def vae_from_state_dict(sd: Mapping[str, torch.Tensor], devices: Devices = AUTO) -> VAE:
    """A ``VAE`` computing as ``devices`` says, from LDM-layout keys without prefix (diffusers layout is
    converted)."""
    if is_diffusers_vae(sd):
        sd = diffusers_vae_to_ldm(sd)
    vae_keys = {k: v for k, v in sd.items() if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant"))}
    model = build_with_weights(lambda: AutoencoderKL(detect_vae_config(vae_keys)), vae_keys)
    return VAE(model, SD15, devices)


def clip_from_state_dict(sd: Mapping[str, torch.Tensor], style: EncoderStyle = SD1_STYLE,
                        devices: Devices = AUTO) -> Any:
    """One text encoder computing as ``devices`` says, from its checkpoint keys (prefix removed): transformers'
    names (with or without the ``text_model.`` level) or OpenCLIP's, read in the given family style."""
    # Imported here: the text encoder pulls in transformers, which is slow to import.
    from engine.sd.clip import load_clip_from_state_dict
    from engine.sd.openclip_convert import is_openclip, openclip_to_hf

    if is_openclip(sd):
        return load_clip_from_state_dict(openclip_to_hf(sd), style, "gelu", devices)
    hf = {(k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): v for k, v in sd.items()}
    # OpenAI's CLIP-L uses quick-GELU; the OpenCLIP towers (H 1024, bigG 1280) saved in transformers' names, GELU.
    act = "gelu" if text_encoder_width(hf) in (1024, 1280) else "quick_gelu"
    return load_clip_from_state_dict(hf, style, act, devices)


def text_encoder_width(sd: Mapping[str, torch.Tensor]) -> int:
    for key in ("text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "embeddings.token_embedding.weight"):
        if key in sd:
            return int(sd[key].shape[1])
    raise KeyError("no token embedding (text_model.embeddings.token_embedding.weight or token_embedding.weight)")
