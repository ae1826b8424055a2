"""Tiny random files in the real layouts of A1111 hypernetworks, GLIGEN models and InstructPix2Pix checkpoints,
sized for the tiny SD1 checkpoint of ``tests.factories`` (attention widths 32 and 64, a 32-wide text encoder)."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.sd.gligen import GatedSelfAttentionDense, PositionNet
from engine.sd.unet import UNetConfig, UNetModel
from tests.factories import (
    TINY_UNET,
    save_weights,
    tiny_clip_state_dict,
    tiny_unet_state_dict,
    tiny_vae_state_dict,
)

TINY_WIDTHS = (32, 64)  # the tiny UNet's attention inputs: its two levels, and its 32-wide text context


def _randomize(module: torch.nn.Module, gen: torch.Generator, scale: float = 0.2) -> torch.nn.Module:
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * (0.8 if "alpha" in name else scale))
    return module


def write_tiny_hypernetwork(path: str | Path, seed: int = 0) -> Path:
    """What A1111's ``Hypernetwork.save`` writes: per width two ``linear.0``/``linear.2`` MLPs (layer structure
    1, 2, 1 with ReLU), and the options."""
    gen = torch.Generator().manual_seed(seed)

    def mlp(width: int) -> dict[str, torch.Tensor]:
        layers = torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.ReLU(),
                                     torch.nn.Linear(2 * width, width))
        return _randomize(layers, gen).state_dict()

    data: dict = {width: [{f"linear.{k}": v for k, v in mlp(width).items()} for _ in range(2)]
                  for width in TINY_WIDTHS}
    data.update({"step": 500, "name": Path(path).stem, "layer_structure": [1, 2, 1], "activation_func": "relu",
                 "is_layer_norm": False, "weight_initialization": "Normal", "sd_checkpoint": "0123456789",
                 "sd_checkpoint_name": "v1-5-pruned-emaonly", "activate_output": False, "use_dropout": True,
                 "dropout_structure": [0, 0.3, 0], "last_layer_dropout": False, "optional_info": None})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def tiny_gligen_state_dict(seed: int = 0, config: UNetConfig = TINY_UNET) -> dict[str, torch.Tensor]:
    """A GLIGEN file for a UNet of ``config``: a fuser under every transformer block's key and the position net."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        unet = UNetModel(config)
    sd: dict[str, torch.Tensor] = {}
    for key, weight in unet.state_dict().items():
        if key.endswith(".attn1.to_q.weight"):
            fuser = _randomize(GatedSelfAttentionDense(weight.shape[1], config.context_dim), gen)
            owner = key[: -len(".attn1.to_q.weight")]
            sd.update({f"{owner}.fuser.{name}": value for name, value in fuser.state_dict().items()})
    position_net = _randomize(PositionNet(config.context_dim, config.context_dim), gen)
    sd.update({f"position_net.{name}": value for name, value in position_net.state_dict().items()})
    return sd


def write_tiny_gligen(path: str | Path, seed: int = 0) -> Path:
    return save_weights(tiny_gligen_state_dict(seed), Path(path), torch.float16)


def write_tiny_ip2p_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """An SD1.x InstructPix2Pix checkpoint: the UNet takes 8 channels (noisy latent, image latent)."""
    unet = UNetConfig(**{**TINY_UNET.__dict__, "in_channels": 8})
    sd = {"model.diffusion_model." + k: v for k, v in tiny_unet_state_dict(seed, unet).items()}
    sd.update({"first_stage_model." + k: v for k, v in tiny_vae_state_dict(seed + 1).items()})
    sd.update({"cond_stage_model.transformer." + k: v for k, v in tiny_clip_state_dict(seed + 2).items()})
    return save_weights(sd, Path(path), dtype)
