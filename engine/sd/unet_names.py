"""The diffusers name of every LDM UNet weight, derived from the UNet's config.

LoRA files name the weights they patch either way (kohya's sd-scripts use diffusers names, others LDM names),
so the LoRA loader needs the map in both directions.
"""

from __future__ import annotations

import re

from engine.sd.unet_config import UNetConfig

RESNET_RENAMES = {
    "in_layers.0": "norm1", "in_layers.2": "conv1", "out_layers.0": "norm2", "out_layers.3": "conv2",
    "emb_layers.1": "time_emb_proj", "skip_connection": "conv_shortcut",
}
FIXED = {
    "time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
    "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out",
    "label_emb.0.0": "add_embedding.linear_1", "label_emb.0.2": "add_embedding.linear_2",
}


def _module_prefixes(config: UNetConfig) -> dict[str, str]:
    """LDM module prefix -> diffusers module prefix, for every block of the UNet."""
    layers = config.num_res_blocks
    levels = len(config.channel_mult)
    prefixes = dict(FIXED)
    index = 1
    for level in range(levels):
        for layer in range(layers):
            prefixes[f"input_blocks.{index}.0"] = f"down_blocks.{level}.resnets.{layer}"
            prefixes[f"input_blocks.{index}.1"] = f"down_blocks.{level}.attentions.{layer}"
            index += 1
        if level != levels - 1:
            prefixes[f"input_blocks.{index}.0.op"] = f"down_blocks.{level}.downsamplers.0.conv"
            index += 1
    prefixes["middle_block.0"] = "mid_block.resnets.0"
    prefixes["middle_block.1"] = "mid_block.attentions.0"
    prefixes["middle_block.2"] = "mid_block.resnets.1"
    index = 0
    for up_level in range(levels):
        has_attention = config.transformer_depth[levels - 1 - up_level] > 0
        for layer in range(layers + 1):
            prefixes[f"output_blocks.{index}.0"] = f"up_blocks.{up_level}.resnets.{layer}"
            prefixes[f"output_blocks.{index}.1"] = f"up_blocks.{up_level}.attentions.{layer}"
            if layer == layers and up_level != levels - 1:
                slot = 2 if has_attention else 1
                prefixes[f"output_blocks.{index}.{slot}.conv"] = f"up_blocks.{up_level}.upsamplers.0.conv"
            index += 1
    return prefixes


def ldm_to_diffusers(config: UNetConfig, ldm_keys: list[str]) -> dict[str, str]:
    """For each LDM key (e.g. ``input_blocks.1.0.in_layers.0.weight``) its diffusers key."""
    prefixes = _module_prefixes(config)
    ordered = sorted(prefixes, key=len, reverse=True)  # "…1.conv" before "…1"
    mapping = {}
    for key in ldm_keys:
        prefix = next((p for p in ordered if key == p or key.startswith(p + ".")), None)
        if prefix is None:
            continue
        rest = key[len(prefix):]
        if ".resnets." in prefixes[prefix]:
            for old, new in RESNET_RENAMES.items():
                if rest.startswith("." + old + "."):
                    rest = "." + new + rest[len(old) + 1:]
                    break
        mapping[key] = prefixes[prefix] + rest
    return mapping


def _indices(keys: list[str], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in keys if (m := regex.match(key))})


def diffusers_structure(keys: list[str]) -> UNetConfig:
    """Just enough of a diffusers UNet's (or ControlNet's) config to name its blocks: levels, res blocks per level
    and attention depths; widths are read later from the renamed tensors."""
    levels = _indices(keys, r"down_blocks\.(\d+)\.")
    depths = tuple(len(_indices(keys, rf"down_blocks\.{level}\.attentions\.0\.transformer_blocks\.(\d+)\."))
                   for level in levels)
    return UNetConfig(channel_mult=(1,) * len(levels), transformer_depth=depths,
                      num_res_blocks=len(_indices(keys, r"down_blocks\.0\.resnets\.(\d+)\.")))


def diffusers_to_ldm(config: UNetConfig, diffusers_keys: list[str]) -> dict[str, str]:
    """For each diffusers key its LDM key (the inverse of ``ldm_to_diffusers``); unknown keys are left out."""
    prefixes = {diffusers: ldm for ldm, diffusers in _module_prefixes(config).items()}
    ordered = sorted(prefixes, key=len, reverse=True)
    resnet_renames = {new: old for old, new in RESNET_RENAMES.items()}
    mapping = {}
    for key in diffusers_keys:
        prefix = next((p for p in ordered if key.startswith(p + ".")), None)
        if prefix is None:
            continue
        rest = key[len(prefix):]
        if ".resnets." in prefix:
            for new, old in resnet_renames.items():
                if rest.startswith("." + new + "."):
                    rest = "." + old + rest[len(new) + 1:]
                    break
        mapping[key] = prefixes[prefix] + rest
    return mapping
