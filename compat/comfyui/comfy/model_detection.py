"""ComfyUI's ``comfy.model_detection``: a UNet's (or ControlNet's) config read from its weights, as views of
Atelier's detection (``engine.sd.unet_config.detect_unet_config``, ``engine.controlnet.detect_controlnet``, the
diffusers names of ``engine.sd.unet_names``) and families (``engine.sd.families``).

- ``detect_unet_config``, ``unet_config_from_diffusers_unet``: the config as a dict of Atelier's ``UNetConfig``
  fields, which carry ComfyUI's names (``in_channels``, ``model_channels``, ``context_dim``, ``channel_mult``,
  ``num_head_channels``, ``adm_in_channels``, ...); None when the weights are not an SD-style UNet.
- ``model_config_from_unet`` / ``model_config_from_unet_config``: a model config (``unet_config``,
  ``latent_format``, as ``model.model.model_config``) for the family Atelier recognises.
- ``count_blocks``: how many numbered blocks a state dict has under a prefix.

Partial: ``transformer_depth`` and ``num_res_blocks`` are per level (ComfyUI lists them per block); families
Atelier does not run (Flux, SD3, video models, ...) are not detected (None); ``convert_config`` (ComfyUI's
per-block form for its own UNet constructor) is a stand-in, since Atelier's networks are built from a
``UNetConfig``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from compat.stand_ins import unsupported_function

convert_config = unsupported_function(__name__, "convert_config",
                                      "Atelier builds its UNets from engine.sd.unet_config.UNetConfig")


def count_blocks(state_dict_keys: Iterable[str], prefix_string: str) -> int:
    """How many blocks ``prefix_string.format(0)``, ``.format(1)``, ... have keys, counting up from 0."""
    keys = list(state_dict_keys)
    count = 0
    while any(key.startswith(prefix_string.format(count)) for key in keys):
        count += 1
    return count


def detect_unet_config(state_dict: Mapping[str, Any], key_prefix: str, metadata: Any = None) -> dict | None:
    """The config of the UNet (or ControlNet, original layout) whose weights are under ``key_prefix``."""
    from engine.controlnet import ControlNetError, detect_controlnet
    from engine.sd.unet_config import detect_unet_config as engine_detect

    weights = {key[len(key_prefix):]: value for key, value in state_dict.items() if key.startswith(key_prefix)}
    try:
        if "input_hint_block.0.weight" in weights:
            return dataclasses.asdict(detect_controlnet(weights)[0])
        return dataclasses.asdict(engine_detect(weights))
    except (KeyError, ValueError, ControlNetError):
        return None


def unet_config_from_diffusers_unet(state_dict: Mapping[str, Any], dtype: Any = None) -> dict | None:
    """The config of a UNet or ControlNet in diffusers' layout."""
    from comfy.diffusers_convert import convert_unet_state_dict
    from engine.controlnet_diffusers import diffusers_controlnet_to_ldm, is_diffusers_controlnet

    try:
        if is_diffusers_controlnet(state_dict):
            weights = diffusers_controlnet_to_ldm(state_dict)
        else:
            weights = convert_unet_state_dict(state_dict)
    except (KeyError, ValueError):
        return None
    return detect_unet_config(weights, "")


def model_config_from_unet_config(unet_config: Mapping[str, Any], state_dict: Any = None) -> Any:
    """The model config of the family a UNet config belongs to, or None when Atelier knows no such family."""
    from engine.sd.base_model import ModelConfig, latent_format_view
    from engine.sd.families import FAMILIES

    config = _engine_config(unet_config)
    family = next((f for f in FAMILIES if f.claims_unet(config)), None) if config else None
    if family is None:
        return None
    return ModelConfig(dataclasses.asdict(config), latent_format_view(family.latent_format))


def model_config_from_unet(state_dict: Mapping[str, Any], unet_key_prefix: str, use_base_if_no_match: bool = False,
                           metadata: Any = None) -> Any:
    """The model config of the UNet under ``unet_key_prefix``; with ``use_base_if_no_match`` an SD1-style config
    for a UNet of no known family (as ComfyUI's base config)."""
    from engine.sd.base_model import ModelConfig, latent_format_view
    from engine.sd.families import SD1

    unet_config = detect_unet_config(state_dict, unet_key_prefix, metadata)
    if unet_config is None:
        return None
    found = model_config_from_unet_config(unet_config)
    if found is None and use_base_if_no_match:
        return ModelConfig(unet_config, latent_format_view(SD1.latent_format))
    return found


def _engine_config(unet_config: Mapping[str, Any]) -> Any:
    """Atelier's ``UNetConfig`` from its fields (lists as tuples); None when other keys are given."""
    from engine.sd.unet_config import UNetConfig

    names = {f.name for f in dataclasses.fields(UNetConfig)}
    if not set(unet_config) <= names:
        return None
    return UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in unet_config.items()})
