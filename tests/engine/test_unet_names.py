"""Our LDM -> diffusers UNet name map agrees with diffusers' own checkpoint converter."""

from __future__ import annotations

import pytest
import torch
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

from engine.sd.unet import UNetModel
from engine.sd.unet_config import UNetConfig
from engine.sd.unet_names import ldm_to_diffusers
from tests.engine.test_unet import diffusers_config

CONFIGS = [
    UNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, transformer_depth=(1, 1),
               context_dim=32, num_heads=2),
    UNetConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=2, transformer_depth=(0, 1, 1),
               context_dim=32, num_head_channels=16, use_linear_in_transformer=True),
    UNetConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=2, transformer_depth=(1, 1, 0),
               context_dim=32, num_heads=2),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_map_matches_diffusers_converter(config: UNetConfig) -> None:
    with torch.device("meta"):
        keys = list(UNetModel(config).state_dict())
    ldm = {"model.diffusion_model." + key: torch.full((1,), float(index)) for index, key in enumerate(keys)}
    converted = convert_ldm_unet_checkpoint(ldm, diffusers_config(config))
    by_value = {float(tensor): name for name, tensor in converted.items()}
    expected = {key: by_value[float(index)] for index, key in enumerate(keys)}
    assert ldm_to_diffusers(config, keys) == expected
