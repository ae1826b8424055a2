"""ControlNet: a copy of the UNet's encoder that turns a hint image into residuals for the UNet's skips.

Files in the original layout (``control_model.*`` or unprefixed: ``input_hint_block``, ``zero_convs``,
``middle_block_out`` beside the encoder's ``input_blocks``/``middle_block``) load directly, diffusers' layout after
renaming; sizes are read from the tensors. ``ControlNetHint`` is what conditioning carries: a net, its hint image,
a strength and a range of the schedule, chained to the previous ControlNet of the same conditioning. Both answer
ComfyUI's ``ControlBase`` names (``engine.comfy_control``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.comfy_control import ControlBase
from engine.controlnet_diffusers import diffusers_controlnet_to_ldm, is_diffusers_controlnet
from engine.device import AUTO, Devices
from engine.sd.materialize import build_with_weights
from engine.sd.state_dict import load_state_dict
from engine.sd.unet import TimestepBlock, UNetModel, timestep_embedding
from engine.sd.unet_config import UNetConfig, detect_unet_config
from engine.t2i_adapter import is_t2i_adapter, t2i_adapter_from_state_dict

Control = dict[str, list[torch.Tensor] | torch.Tensor]


class ControlNetError(ValueError):
    """A file that is not a ControlNet we can load."""


def hint_block(hint_channels: int, widths: list[int], model_channels: int) -> TimestepBlock:
    """Convs from the hint image down to latent resolution (3 stride-2 steps), SiLU between them."""
    layers: list[nn.Module] = []
    channels = hint_channels
    for index, width in enumerate(widths):
        stride = 2 if index in (2, 4, 6) else 1
        layers += [nn.Conv2d(channels, width, 3, padding=1, stride=stride), nn.SiLU()]
        channels = width
    layers.append(nn.Conv2d(channels, model_channels, 3, padding=1))
    return TimestepBlock(*layers)


def skip_channels(config: UNetConfig) -> list[int]:
    """Output channels of each input block of the UNet (one zero conv each)."""
    channels = [config.model_channels]
    for level, mult in enumerate(config.channel_mult):
        channels += [mult * config.model_channels] * config.num_res_blocks
        if level != len(config.channel_mult) - 1:
            channels.append(mult * config.model_channels)
    return channels


class ControlNet(nn.Module, ControlBase):
    per_step = True  # its residuals depend on the latent and the timestep

    def __init__(self, config: UNetConfig, hint_channels: int = 3, hint_widths: tuple[int, ...] = (
            16, 16, 32, 32, 96, 96, 256)) -> None:
        super().__init__()
        self.config = config
        encoder = UNetModel(config)  # the encoder half is the same network; the decoder is dropped
        self.time_embed = encoder.time_embed
        if config.adm_in_channels is not None:
            self.label_emb = encoder.label_emb
        self.input_blocks = encoder.input_blocks
        self.middle_block = encoder.middle_block
        self.input_hint_block = hint_block(hint_channels, list(hint_widths), config.model_channels)
        self.zero_convs = nn.ModuleList(nn.Sequential(nn.Conv2d(ch, ch, 1)) for ch in skip_channels(config))
        middle = config.model_channels * config.channel_mult[-1]
        self.middle_block_out = nn.Sequential(nn.Conv2d(middle, middle, 1))

    def forward(self, x: torch.Tensor, hint: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                y: torch.Tensor | None = None) -> Control:
        """Residuals for the UNet given its inputs and a hint image [B, C, 8h, 8w] in 0..1."""
        self._check_fits(context, y)
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(x.dtype))
        if y is not None:
            emb = emb + self.label_emb(y.to(x.dtype))
        guided = self.input_hint_block(hint.to(x.dtype), emb, context)
        down = []
        h = x
        for index, (block, zero_conv) in enumerate(zip(self.input_blocks, self.zero_convs, strict=True)):
            h = block(h, emb, context)
            if index == 0:
                h = h + guided
            down.append(zero_conv(h))
        h = self.middle_block(h, emb, context)
        return {"down": down, "mid": self.middle_block_out(h)}

    def copy(self) -> ControlNetHint:
        """ComfyUI's ``copy()``: a hint of this net, to be given its image with ``set_cond_hint``."""
        return ControlNetHint(self)

    def _check_fits(self, context: torch.Tensor, y: torch.Tensor | None) -> None:
        """A ControlNet made for another family fails here with a message, not deep inside a matrix product."""
        made_for = "SDXL" if self.config.adm_in_channels else f"{self.config.context_dim}-wide text (SD1.x/SD2.x)"
        if context.shape[-1] != self.config.context_dim or (y is not None) != bool(self.config.adm_in_channels):
            model = "SDXL" if y is not None else "SD1.x/SD2.x"
            raise ControlNetError(f"this ControlNet was made for {made_for}, but the model is {model} with "
                                  f"{context.shape[-1]}-wide text conditioning: use one made for the model's family")


def strip_prefix(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if any(key.startswith("control_model.") for key in sd):
        return {key[len("control_model."):]: value for key, value in sd.items() if key.startswith("control_model.")}
    return dict(sd)


def detect_controlnet(sd: Mapping[str, torch.Tensor]) -> tuple[UNetConfig, int, tuple[int, ...]]:
    """(encoder config, hint channels, hint widths) from a ControlNet state dict in the original layout."""
    if "input_hint_block.0.weight" not in sd or "zero_convs.0.0.weight" not in sd:
        raise ControlNetError("no input_hint_block / zero_convs tensors")
    in_channels = int(sd["input_blocks.0.0.weight"].shape[1])
    fake_out = {"out.2.weight": torch.empty((in_channels, 1, 1, 1), device="meta")}  # encoders have no output
    config = detect_unet_config({**sd, **fake_out})
    hint_indices = sorted(int(m.group(1)) for key in sd if (m := re.match(r"input_hint_block\.(\d+)\.weight", key)))
    widths = tuple(int(sd[f"input_hint_block.{i}.weight"].shape[0]) for i in hint_indices[:-1])
    return config, int(sd["input_hint_block.0.weight"].shape[1]), widths


def controlnet_from_state_dict(sd: Mapping[str, torch.Tensor]) -> ControlNet:
    sd = strip_prefix(sd)
    if is_diffusers_controlnet(sd):
        sd = diffusers_controlnet_to_ldm(sd)
    config, hint_channels, widths = detect_controlnet(sd)
    return build_with_weights(lambda: ControlNet(config, hint_channels, widths), sd)


def load_controlnet(path: str | Path) -> nn.Module:
    """A ControlNet or, as in ComfyUI's ControlNet loader, a T2I-Adapter."""
    sd = load_state_dict(Path(path))
    if is_t2i_adapter(sd):
        try:
            return t2i_adapter_from_state_dict(sd)
        except ValueError as error:  # a kind of adapter we know but do not run; the message names it
            raise ControlNetError(f"{Path(path).name} is {error}") from error
    try:
        return controlnet_from_state_dict(sd)
    except (ControlNetError, KeyError) as error:
        raise ControlNetError(f"{Path(path).name} is not a ControlNet: {error}. Expected the original layout "
                              "(control_model.input_hint_block / zero_convs tensors) or diffusers' "
                              "(controlnet_cond_embedding / controlnet_down_blocks tensors).") from error


@dataclass
class ControlNetHint(ControlBase):
    """One ControlNet applied to a conditioning: called by the sampler at each step."""

    net: nn.Module  # a ControlNet or a T2I-Adapter
    hint: torch.Tensor | None = None  # IMAGE [B, H, W, C] in 0..1; None until ComfyUI's set_cond_hint gives one
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: ControlNetHint | None = None
    _resized: dict[tuple, torch.Tensor] = field(default_factory=dict, repr=False)
    _once: dict[tuple, Control] = field(default_factory=dict, repr=False)  # outputs of nets that ignore the latent

    def copy(self) -> ControlNetHint:
        """ComfyUI's ``copy()``: the same net, image, strength and range, not chained to any other."""
        return ControlNetHint(self.net, self.hint, self.strength, self.start_percent, self.end_percent)

    def hint_target(self) -> ControlNetHint:
        return self

    def set_previous_controlnet(self, controlnet: ControlNetHint | None) -> ControlNetHint:
        self.previous = controlnet
        return self

    def chained(self) -> list[ControlNetHint]:
        chain, node = [], self
        while node is not None:
            chain.append(node)
            node = node.previous
        return chain

    def _hint_for(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.hint is None:
            raise ValueError("this ControlNet has no hint image (ComfyUI's set_cond_hint was not called)")
        key = (tuple(x.shape), x.device, dtype)
        if key not in self._resized:
            image = self.hint.movedim(-1, 1)[:, :3]
            image = F.interpolate(image, size=(x.shape[2] * 8, x.shape[3] * 8), mode="bilinear", antialias=True)
            repeats = -(-x.shape[0] // image.shape[0])
            self._resized = {key: image.repeat(repeats, 1, 1, 1)[: x.shape[0]].to(x.device, dtype)}
        return self._resized[key]

    def residuals(self, x_in: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, sigma: float,
                  percent_to_sigma: Callable[[float], float], y: torch.Tensor | None = None,
                  devices: Devices = AUTO) -> Control | None:
        """The summed residuals of this ControlNet and the ones before it that are active at ``sigma``, computed on
        ``x_in``'s device in the dtype ``devices`` (the guided model's policy) gives there."""
        total: Control | None = None
        for node in self.chained():
            active = percent_to_sigma(node.end_percent) <= sigma <= percent_to_sigma(node.start_percent)
            if not active or node.strength == 0:
                continue
            scaled = node._run(x_in, timesteps, context, y, devices)
            total = scaled if total is None else _add(total, scaled)
        return total

    def _run(self, x_in: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
             y: torch.Tensor | None, devices: Devices) -> Control:
        param = next(self.net.parameters())
        dtype = devices.compute_dtype(param.dtype, x_in.device)
        net = self.net if (param.dtype, param.device) == (dtype, x_in.device) else self.net.to(x_in.device, dtype)
        key = (tuple(x_in.shape), x_in.device, dtype)
        if self.net.per_step or key not in self._once:
            with torch.no_grad():
                out = net(x_in.to(dtype), self._hint_for(x_in, dtype), timesteps, context.to(dtype),
                          None if y is None else y.to(dtype))
            if not self.net.per_step:
                self._once = {key: out}
        else:
            out = self._once[key]
        return {name: _scale(value, self.strength) for name, value in out.items()}


def _scale(value: Any, factor: float) -> Any:
    if isinstance(value, list):
        return [None if v is None else v * factor for v in value]
    return None if value is None else value * factor


def _add(a: Control, b: Control) -> Control:
    """Residuals of two nets, summed where both have them (a ControlNet and an adapter fill different keys)."""
    total: Control = {}
    for name in a.keys() | b.keys():
        x, y = a.get(name), b.get(name)
        if x is None or y is None:
            total[name] = x if y is None else y
        elif isinstance(x, list):
            total[name] = [p if q is None else q if p is None else p + q for p, q in zip(x, y, strict=True)]
        else:
            total[name] = x + y
    return total
