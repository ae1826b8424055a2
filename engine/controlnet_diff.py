"""ControlNets stored as differences from their base model's weights ("diff" ControlNets, ComfyUI's
DiffControlNetLoader): the usable net is the difference plus the UNet's encoder weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


def controlnet_from_diff(diff: nn.Module, unet: nn.Module) -> nn.Module:
    """A new ControlNet whose weights are ``diff``'s plus the UNet's wherever both have a tensor of that name and
    shape (the encoder the ControlNet copies). ``diff`` is left as it is, so a cached file can be reused with
    another base model."""
    net = copy.deepcopy(diff)
    base = unet.state_dict()
    with torch.no_grad():
        for key, weight in net.state_dict().items():
            if key in base and base[key].shape == weight.shape:
                weight.add_(base[key].to(weight))
    return net
