"""Load single-file Stable Diffusion checkpoints (SD1.x, SD2.x, SDXL base and refiner, and their inpainting
variants) and standalone VAE / UNet files into engine objects, and write checkpoints back in the same layout."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.model_cache import MODEL_CACHE, ModelCache
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.latent_format import SD15, SDXL
from engine.sd.materialize import build_with_weights
from engine.sd.model import DiffusionModel
from engine.sd.model_inputs import sdxl_adm, sdxl_refiner_adm
from engine.sd.state_dict import WeightsFileError, has_prefix, load_state_dict, with_prefix
from engine.sd.unet import UNetConfig, UNetModel, detect_unet_config
from engine.sd.unet_names import diffusers_structure, diffusers_to_ldm
from engine.sd.vae import VAE, AutoencoderKL, detect_vae_config
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."  # SD1: CLIP-L in transformers' names
OPENCLIP_PREFIX = "cond_stage_model.model."  # SD2: OpenCLIP-H
SDXL_L_PREFIX = "conditioner.embedders.0.transformer."  # SDXL base: CLIP-L ...
SDXL_G_PREFIX = "conditioner.embedders.1.model."  # ... and OpenCLIP-bigG
REFINER_G_PREFIX = "conditioner.embedders.0.model."  # SDXL refiner: bigG alone
EXPECTED = (f"keys starting with {UNET_PREFIX!r} and {VAE_PREFIX!r}, and text encoders under {CLIP_PREFIX!r} "
            f"(SD1.x), {OPENCLIP_PREFIX!r} (SD2.x) or 'conditioner.embedders.' (SDXL)")
# Text encoders by family: (checkpoint prefix, encoder style, stored in OpenCLIP names).
TEXT_ENCODERS = {
    "sd1": {"clip_l": CLIP_PREFIX},
    "sd2": {"clip_h": OPENCLIP_PREFIX},
    "sdxl": {"clip_l": SDXL_L_PREFIX, "clip_g": SDXL_G_PREFIX},
    "sdxl_refiner": {"clip_g": REFINER_G_PREFIX},
}
V_PREDICTION_STD = 0.09  # ComfyUI's test for SD2 v-models: this norm bias varies more in v-prediction training

# Marker keys of families we recognise but cannot run: (prefix or key, family name).
_UNSUPPORTED_MARKERS = [
    (UNET_PREFIX + "joint_blocks.", "SD3 (model.diffusion_model.joint_blocks.*)"),
    (UNET_PREFIX + "double_blocks.", "Flux (model.diffusion_model.double_blocks.*)"),
]


class CheckpointError(ValueError):
    """A file that is not (or not yet) a loadable model; the message names the file and what was expected."""


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_state_dict(path)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from e


def load_checkpoint(path: str | Path, cache: ModelCache = MODEL_CACHE) -> tuple[DiffusionModel, Any, VAE]:
    """(MODEL, CLIP, VAE) of a single-file SD1.x, SD2.x or SDXL checkpoint; the file is read once while unchanged."""
    model, clip, vae = cache.get_or_load(path, "checkpoint", _read_checkpoint)
    return model.clone(), clip, vae


def load_vae(path: str | Path, cache: ModelCache = MODEL_CACHE) -> VAE:
    """A standalone VAE file in LDM layout (optionally under ``first_stage_model.`` or ``vae.``) or diffusers
    layout."""
    return cache.get_or_load(path, "vae", _read_vae)


def load_diffusion_model(path: str | Path, cache: ModelCache = MODEL_CACHE,
                         storage_dtype: torch.dtype | None = None) -> DiffusionModel:
    """A UNet-only file (original layout with or without ``model.diffusion_model.``, or diffusers' layout), its
    weights optionally stored in another dtype (fp8 halves the memory of fp16 files)."""
    kind = "unet" if storage_dtype is None else f"unet:{storage_dtype}"
    return cache.get_or_load(path, kind, lambda p: _read_unet(p, storage_dtype)).clone()


def unet_family(config: UNetConfig) -> str:
    """The family of a UNet from its config. A class vector means SDXL: the refiner's is its pooled text (as wide as
    its context) plus 5 size/score embeddings, the base's pooled bigG text plus 6 size embeddings."""
    if config.adm_in_channels:
        return "sdxl_refiner" if config.adm_in_channels - 5 * 256 == config.context_dim else "sdxl"
    if config.use_linear_in_transformer or config.context_dim == 1024:
        return "sd2"
    return "sd1"


def unet_from_state_dict(sd: Mapping[str, torch.Tensor], family: str | None = None,
                         prediction: str = "eps") -> DiffusionModel:
    """A ``DiffusionModel`` from UNet keys without prefix; weights are adopted, not copied."""
    config = detect_unet_config(sd)
    family = family or unet_family(config)
    unet = build_with_weights(lambda: UNetModel(config), sd)
    xl = family.startswith("sdxl")
    adm = {"sdxl": sdxl_adm, "sdxl_refiner": sdxl_refiner_adm}.get(family) if config.adm_in_channels else None
    return DiffusionModel(unet, ModelSamplingDiscrete(prediction=prediction), SDXL if xl else SD15, family, adm)


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


def _text_encoders(sd: Mapping[str, torch.Tensor], family: str) -> Any:
    if family == "sd1":
        return clip_from_state_dict(with_prefix(sd, CLIP_PREFIX), "sd1")
    if family == "sd2":
        return clip_from_state_dict(with_prefix(sd, OPENCLIP_PREFIX), "sd2")
    if family == "sdxl_refiner":
        return clip_from_state_dict(with_prefix(sd, REFINER_G_PREFIX), "sdxl_g")
    from engine.sd.dual_clip import DualClip

    return DualClip(clip_from_state_dict(with_prefix(sd, SDXL_L_PREFIX), "sdxl_l"),
                    clip_from_state_dict(with_prefix(sd, SDXL_G_PREFIX), "sdxl_g"))


def checkpoint_family(sd: Mapping[str, torch.Tensor], path: str | Path) -> str:
    """The family of a single-file checkpoint from its text encoder's keys; raises ``CheckpointError`` naming
    ``path`` when it is not one we can load."""
    for marker, family in _UNSUPPORTED_MARKERS:
        if has_prefix(sd, marker):
            raise CheckpointError(f"{path}: {family} checkpoints are not supported; expected {EXPECTED}")
    missing = [p for p in (UNET_PREFIX, VAE_PREFIX) if not has_prefix(sd, p)]
    families = [name for name, encoders in TEXT_ENCODERS.items()
                if all(has_prefix(sd, prefix) for prefix in encoders.values())]
    if missing or not families:
        raise CheckpointError(
            f"{path}: not a Stable Diffusion checkpoint: no keys starting with "
            f"{', '.join(map(repr, missing or ['a known text encoder prefix']))}; expected {EXPECTED}; "
            f"found e.g. {sorted(sd)[:5]}"
        )
    family = families[0]
    conv_in = sd.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is not None and conv_in.shape[1] not in (4, 9):
        raise CheckpointError(
            f"{path}: UNet with {conv_in.shape[1]} input channels is not supported (instruct-pix2pix style models); "
            f"expected 4, or 9 for inpainting models (model.diffusion_model.input_blocks.0.0.weight)"
        )
    return family


def _prediction(sd: Mapping[str, torch.Tensor], family: str) -> str:
    if family == "sd2":
        bias = sd.get(UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias")
        return "v_prediction" if bias is not None and float(bias.float().std()) > V_PREDICTION_STD else "eps"
    return "v_prediction" if "v_pred" in sd else "eps"


def _read_checkpoint(path: Path) -> tuple[DiffusionModel, Any, VAE]:
    sd = _read_weights(path)
    family = checkpoint_family(sd, path)
    prediction = _prediction(sd, family)
    unet_sd = with_prefix(sd, UNET_PREFIX)
    vae_sd = with_prefix(sd, VAE_PREFIX)
    try:
        model = unet_from_state_dict(unet_sd, family, prediction)
        vae = vae_from_state_dict(vae_sd)
        clip = _text_encoders(sd, family)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: unexpected tensor layout for an {FAMILY_NAMES[family]} checkpoint ({e})") from e
    return model, clip, vae


FAMILY_NAMES = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner"}


def checkpoint_state_dict(model: DiffusionModel, clip: Any, vae: VAE) -> dict[str, torch.Tensor]:
    """Model, text encoders and VAE (patches applied) in the single-file layout of the model's family, the layout
    ComfyUI and A1111 read."""
    from engine.sd.openclip_convert import hf_to_openclip

    tensors = {UNET_PREFIX + k: v for k, v in model.patched_state_dict().items()}
    tensors.update({VAE_PREFIX + k: v for k, v in vae.model.state_dict().items()})
    encoders = getattr(clip, "encoders", None) or {next(iter(TEXT_ENCODERS[model.family])): clip}
    prefixes = TEXT_ENCODERS[model.family]
    if set(encoders) != set(prefixes):
        raise ValueError(f"a {FAMILY_NAMES[model.family]} model needs text encoders {sorted(prefixes)}, "
                         f"got {sorted(encoders)}")
    for name, encoder in encoders.items():
        weights = encoder.patched_state_dict()
        if encoder.style.save_layout == "openclip":
            weights = hf_to_openclip(weights)
        tensors.update({prefixes[name] + k: v for k, v in weights.items()})
    return tensors


def _read_vae(path: Path) -> VAE:
    sd = _read_weights(path)
    for prefix in (VAE_PREFIX, "vae."):
        if has_prefix(sd, prefix):
            sd = with_prefix(sd, prefix)
    try:
        return vae_from_state_dict(sd)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a KL VAE file: expected keys like 'encoder.conv_in.weight' and "
            f"'decoder.conv_out.weight' (LDM or diffusers layout) ({e})"
        ) from e


def _read_unet(path: Path, storage_dtype: torch.dtype | None = None) -> DiffusionModel:
    sd = _read_weights(path)
    if storage_dtype is not None:
        sd = {key: value.to(storage_dtype) if value.is_floating_point() else value for key, value in sd.items()}
    if has_prefix(sd, UNET_PREFIX):
        sd = with_prefix(sd, UNET_PREFIX)
    if "conv_in.weight" in sd:  # diffusers' layout (diffusion_pytorch_model.safetensors)
        names = diffusers_to_ldm(diffusers_structure(list(sd)), list(sd))
        sd = {names[key]: value for key, value in sd.items() if key in names}
    try:
        return unet_from_state_dict(sd)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a UNet file: expected keys like 'input_blocks.0.0.weight' (original layout) or "
            f"'conv_in.weight' and 'down_blocks.*' (diffusers' layout) ({e})"
        ) from e


_STYLE_BY_WIDTH = {768: "sd1", 1024: "sd2", 1280: "sdxl_g"}
_TEXT_ENCODER_PREFIXES = (CLIP_PREFIX, OPENCLIP_PREFIX, SDXL_L_PREFIX, SDXL_G_PREFIX, REFINER_G_PREFIX)


def load_text_encoder(path: str | Path, cache: ModelCache = MODEL_CACHE) -> Any:
    """A standalone text-encoder file (transformers' or OpenCLIP's names, optionally under a checkpoint prefix),
    read in the style of the family its width belongs to: 768 CLIP-L (SD1), 1024 OpenCLIP-H (SD2), 1280 bigG
    (the SDXL refiner)."""
    return cache.get_or_load(path, "clip", _read_text_encoder)


def text_encoder_width(sd: Mapping[str, torch.Tensor]) -> int:
    for key in ("text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "embeddings.token_embedding.weight"):
        if key in sd:
            return int(sd[key].shape[1])
    raise KeyError("no token embedding (text_model.embeddings.token_embedding.weight or token_embedding.weight)")


def _read_text_encoder(path: Path) -> Any:
    sd = _read_weights(path)
    for prefix in _TEXT_ENCODER_PREFIXES:
        if has_prefix(sd, prefix):
            sd = with_prefix(sd, prefix)
            break
    if has_prefix(sd, "transformer.text_model."):  # ComfyUI's own saves of CLIP-L
        sd = with_prefix(sd, "transformer.")
    try:
        return clip_from_state_dict(sd, _STYLE_BY_WIDTH.get(text_encoder_width(sd), "sd1"))
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a CLIP text encoder: expected transformers' names "
                              f"('text_model.encoder.layers.*') or OpenCLIP's ('transformer.resblocks.*') ({e})") from e


def dual_text_encoders(first: Any, second: Any) -> Any:
    """SDXL's pair from two single encoders given in either order: the narrower is CLIP-L, the wider bigG."""
    from engine.sd.clip import SDXL_G_STYLE, SDXL_L_STYLE
    from engine.sd.dual_clip import DualClip

    clip_l, clip_g = sorted([first, second], key=lambda encoder: encoder.width)
    return DualClip(clip_l.with_style(SDXL_L_STYLE), clip_g.with_style(SDXL_G_STYLE))
