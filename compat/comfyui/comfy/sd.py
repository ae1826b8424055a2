"""ComfyUI's ``comfy.sd``: model loading as views of Atelier's loaders and the bound runtime's model cache.

Files are read through ``compat.host.runtime().models`` with the same kind and reader as Atelier's loader nodes, so a
checkpoint a plug-in loads is the very one CheckpointLoaderSimple holds (weights shared, read once). ``CLIP`` and
``VAE`` are Atelier's own value classes, which answer ComfyUI's methods (``engine.sd.comfy_clip``,
``engine.sd.comfy_vae``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CLIPType(Enum):
    """ComfyUI's text-encoder kinds (same values); Atelier loads ``STABLE_DIFFUSION`` (SD1.x, SD2.x, SDXL's pair)."""

    STABLE_DIFFUSION = 1
    STABLE_CASCADE = 2
    SD3 = 3
    STABLE_AUDIO = 4
    HUNYUAN_DIT = 5
    FLUX = 6
    MOCHI = 7
    LTXV = 8
    HUNYUAN_VIDEO = 9
    PIXART = 10
    COSMOS = 11
    LUMINA2 = 12
    WAN = 13
    HIDREAM = 14
    CHROMA = 15
    ACE = 16
    OMNIGEN2 = 17
    QWEN_IMAGE = 18
    HUNYUAN_IMAGE = 19


def __getattr__(name: str) -> Any:
    """``CLIP``, ``VAE`` and ``StyleModel`` are Atelier's classes, imported on first use (they pull in torch and
    transformers)."""
    if name == "CLIP":
        from engine.sd.comfy_clip import ComfyClipMethods

        return ComfyClipMethods
    if name == "VAE":
        from engine.sd.vae import VAE

        return VAE
    if name == "StyleModel":
        from engine.style_model import StyleModel

        return StyleModel
    raise AttributeError(f"module 'comfy.sd' has no attribute {name!r}")


def _runtime() -> Any:
    from compat.host import runtime

    return runtime()


def _cached(path: str | Path, kind: str, read: Any) -> Any:
    return _runtime().models.load(Path(path), kind, read)


def _with_embeddings(clip: Any, embedding_directory: str | Sequence[str] | None) -> Any:
    """``clip``, or a clone reading ``embedding:NAME`` from ``embedding_directory`` (ComfyUI's CLIP keeps one)."""
    if clip is None or not embedding_directory:
        return clip
    from comfy.sd1_clip import embedding_source

    clip = clip.clone()
    clip.embeddings = embedding_source(embedding_directory)
    return clip


def _ignored(options: Mapping[str, Any], where: str) -> None:
    if options:
        log.warning("%s: ComfyUI's options %s are not used by Atelier (it picks devices and dtypes itself)", where,
                    sorted(options))


def load_checkpoint_guess_config(ckpt_path: str, output_vae: bool = True, output_clip: bool = True,
                                 output_clipvision: bool = False, embedding_directory: Any = None,
                                 output_model: bool = True, model_options: Mapping[str, Any] | None = None,
                                 te_model_options: Mapping[str, Any] | None = None) -> tuple:
    """(MODEL, CLIP, VAE, CLIP_VISION) of a checkpoint, as CheckpointLoaderSimple loads it; the CLIP vision
    tower (unCLIP checkpoints) when ``output_clipvision`` asks for it and the checkpoint has one, else None."""
    from engine.sd.checkpoint import read_checkpoint, read_checkpoint_parts

    _ignored({**(model_options or {}), **(te_model_options or {})}, "load_checkpoint_guess_config")
    devices = _runtime().devices
    if output_clipvision:
        model, clip, vae, clip_vision = _cached(
            ckpt_path, "checkpoint_with_clip_vision",
            lambda file: read_checkpoint_parts(file, devices, with_clip_vision=True))
    else:
        (model, clip, vae), clip_vision = _cached(ckpt_path, "checkpoint",
                                                  lambda file: read_checkpoint(file, devices)), None
    return (model.clone() if output_model else None, _with_embeddings(clip, embedding_directory) if output_clip
            else None, vae if output_vae else None, clip_vision)


def load_checkpoint(config_path: str | None = None, ckpt_path: str | None = None, output_vae: bool = True,
                    output_clip: bool = True, embedding_directory: Any = None, state_dict: Any = None,
                    config: Any = None) -> tuple:
    """(MODEL, CLIP, VAE); the model's config is read from the tensors (``config_path`` is not needed)."""
    if ckpt_path is None:
        raise NotImplementedError("load_checkpoint from a state_dict is not supported by Atelier; pass ckpt_path")
    return load_checkpoint_guess_config(ckpt_path, output_vae, output_clip, embedding_directory=embedding_directory)[:3]


def load_diffusion_model(unet_path: str, model_options: Mapping[str, Any] | None = None) -> Any:
    """A UNet file as UNETLoader loads it (``model_options["dtype"]``: the storage dtype, as its weight_dtype)."""
    from engine.sd.model_files import load_diffusion_model as read

    options = dict(model_options or {})
    dtype = options.pop("dtype", None)
    _ignored(options, "load_diffusion_model")
    devices = _runtime().devices
    kind = "diffusion_model" if dtype is None else f"diffusion_model:{dtype}"
    return _cached(unet_path, kind, lambda file: read(file, storage_dtype=dtype, devices=devices)).clone()


def load_unet(unet_path: str, dtype: Any = None) -> Any:
    return load_diffusion_model(unet_path, {"dtype": dtype} if dtype is not None else {})


def load_diffusion_model_state_dict(sd: Mapping[str, Any], model_options: Mapping[str, Any] | None = None) -> Any:
    """A MODEL from a UNet state dict (original layout, optionally under ``model.diffusion_model.``, or diffusers')."""
    from comfy.diffusers_convert import convert_unet_state_dict
    from engine.sd.components import unet_from_state_dict
    from engine.sd.families import UNET_PREFIX
    from engine.sd.state_dict import has_prefix, with_prefix

    _ignored(model_options or {}, "load_diffusion_model_state_dict")
    markers = list(sd)
    if has_prefix(sd, UNET_PREFIX):
        sd = with_prefix(sd, UNET_PREFIX)
    if "conv_in.weight" in sd:
        sd = convert_unet_state_dict(sd)
    return unet_from_state_dict(sd, markers=markers, devices=_runtime().devices)


def load_unet_state_dict(sd: Mapping[str, Any], dtype: Any = None) -> Any:
    return load_diffusion_model_state_dict(sd)


def _check_type(clip_type: Any) -> None:
    if clip_type not in (CLIPType.STABLE_DIFFUSION, None) and getattr(clip_type, "name", "") != "STABLE_DIFFUSION":
        raise NotImplementedError(f"text encoders of type {clip_type} are not supported by Atelier (SD1.x, SD2.x "
                                  "and SDXL only)")


def load_clip(ckpt_paths: Sequence[str], embedding_directory: Any = None,
              clip_type: CLIPType = CLIPType.STABLE_DIFFUSION, model_options: Mapping[str, Any] | None = None) -> Any:
    """One text encoder (CLIPLoader) or SDXL's pair from two files (DualCLIPLoader), through the model cache."""
    from engine.sd.model_files import dual_text_encoders, load_text_encoder

    _check_type(clip_type)
    _ignored(model_options or {}, "load_clip")
    devices = _runtime().devices
    encoders = [_cached(path, "text_encoder", lambda file: load_text_encoder(file, devices)) for path in ckpt_paths]
    return _with_embeddings(_combine(encoders, dual_text_encoders), embedding_directory)


def load_text_encoder_state_dicts(state_dicts: Sequence[Mapping[str, Any]] = (), embedding_directory: Any = None,
                                  clip_type: CLIPType = CLIPType.STABLE_DIFFUSION,
                                  model_options: Mapping[str, Any] | None = None) -> Any:
    """A CLIP from text-encoder state dicts (transformers' or OpenCLIP's names), read by width as CLIPLoader reads
    files."""
    from engine.sd.components import clip_from_state_dict, text_encoder_width
    from engine.sd.families import TEXT_ENCODER_PREFIXES, style_for_width
    from engine.sd.model_files import dual_text_encoders
    from engine.sd.state_dict import has_prefix, with_prefix

    _check_type(clip_type)
    _ignored(model_options or {}, "load_text_encoder_state_dicts")
    encoders = []
    for sd in state_dicts:
        prefix = next((p for p in (*TEXT_ENCODER_PREFIXES, "transformer.") if has_prefix(sd, p)), None)
        sd = with_prefix(sd, prefix) if prefix else dict(sd)
        encoders.append(clip_from_state_dict(sd, style_for_width(text_encoder_width(sd)), _runtime().devices))
    return _with_embeddings(_combine(encoders, dual_text_encoders), embedding_directory)


def _combine(encoders: list, pair: Any) -> Any:
    if len(encoders) == 1:
        return encoders[0]
    if len(encoders) == 2:
        return pair(*encoders)
    raise NotImplementedError(f"{len(encoders)} text encoders: Atelier loads one, or SDXL's two")


def load_lora_for_models(model: Any, clip: Any, lora: Mapping[str, Any], strength_model: float,
                         strength_clip: float) -> tuple:
    """Clones of ``model`` and ``clip`` patched with a LoRA state dict, exactly as Atelier's LoraLoader patches."""
    from engine.lora import apply_lora, model_key_map, parse_lora

    parsed = parse_lora(lora, model_key_map(model, clip))
    for key in parsed.unmatched:
        log.warning("NOT LOADED %s", key)
    return apply_lora(model, clip, parsed, strength_model, strength_clip)


def save_checkpoint(output_path: str, model: Any, clip: Any = None, vae: Any = None, clip_vision: Any = None,
                    metadata: Mapping[str, str] | None = None, extra_keys: Mapping[str, Any] | None = None) -> None:
    """The checkpoint CheckpointSave writes (``engine.merge.save_checkpoint``)."""
    if clip is None or vae is None or clip_vision is not None or metadata or extra_keys:
        raise NotImplementedError("Atelier saves a MODEL with its CLIP and VAE, without clip vision, metadata or "
                                  "extra keys")
    from engine.merge import save_checkpoint as save

    save(model, clip, vae, Path(output_path))


def load_style_model(ckpt_path: str) -> Any:
    """A T2I-Adapter style model (``engine.style_model.StyleModel``, with ComfyUI's ``get_cond``)."""
    from engine.style_model import read_style_model

    devices = _runtime().devices
    return _cached(ckpt_path, "style_model", lambda file: read_style_model(file, devices))


def load_gligen(ckpt_path: str) -> Any:
    """A GLIGEN model (``engine.sd.gligen.Gligen``; ``.model.set_position`` as ComfyUI's patcher has it)."""
    from engine.sd.gligen import read_gligen

    return _cached(ckpt_path, "gligen", read_gligen)
