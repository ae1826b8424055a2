"""StyleGAN2 / StyleGAN2-ADA generator in plain torch (no custom CUDA ops), with NVlabs' parameter names so
converted network pickles load 1:1.

Mapping: normalised z (and class embedding) through an MLP to w, with truncation towards the stored
``w_avg``. Synthesis: from a learned 4x4 constant, blocks double the resolution with style-modulated,
demodulated 3x3 convolutions, per-pixel noise, and a skip connection of RGB images upsampled with the
[1, 3, 3, 1] FIR filter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2)


@dataclass(frozen=True)
class StyleGAN2Config:
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 256
    img_channels: int = 3
    mapping_layers: int = 8
    embed_features: int | None = None  # class embedding width; NVlabs' default is w_dim
    layer_features: int | None = None  # hidden mapping width; NVlabs' default is w_dim
    channels: tuple[int, ...] = ()  # per block resolution, 4 .. img_resolution
    conv_clamp: float | None = 256.0

    @property
    def resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        return 2 * len(self.resolutions)  # b4: conv1 + torgb; later blocks add conv0 and conv1 (torgb shares)


def fir_filter() -> torch.Tensor:
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = kernel[:, None] * kernel[None, :]
    return kernel / kernel.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1), filter with the (symmetric) FIR kernel."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, list(pad))
    weight = (kernel * gain).to(x)[None, None].repeat(channels, 1, 1, 1)
    return F.conv2d(x, weight.flip([2, 3]), groups=channels)


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.lrelu = lrelu
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addmm(self.bias * self.bias_gain, x, (self.weight * self.weight_gain).T)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.lrelu else x


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


class MappingNetwork(nn.Module):
    """z (and a class label) -> ws; StyleGAN3 uses it too (its config has the same fields)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        embed = (config.embed_features or config.w_dim) if config.c_dim else 0
        if config.c_dim:
            self.embed = FullyConnectedLayer(config.c_dim, embed)
        hidden = config.layer_features or config.w_dim
        features = [config.z_dim + embed] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
        for index in range(config.mapping_layers):
            self.add_module(f"fc{index}", FullyConnectedLayer(features[index], features[index + 1], lrelu=True,
                                                              lr_multiplier=0.01))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        if self.config.c_dim:
            if c is None:
                raise ValueError("this generator is class-conditional: give a class label")
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.float()))], dim=1)
        for index in range(self.config.mapping_layers):
            x = getattr(self, f"fc{index}")(x)
        ws = x[:, None].repeat(1, self.config.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.config.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: bool = False, kernel: torch.Tensor | None = None) -> torch.Tensor:
    batch = x.shape[0]
    x = x * styles[:, :, None, None]
    if up:  # transposed stride-2 convolution, then the FIR low-pass (as NVlabs' conv2d_resample)
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        x = upfirdn2d(x, kernel, pad=(1, 1, 1, 1), gain=4)
    else:
        x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if demodulate:
        w = weight[None] * styles[:, None, :, None, None]
        coefficients = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        x = x * coefficients.reshape(batch, -1, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool,
                 conv_clamp: float | None) -> None:
        super().__init__()
        self.up, self.conv_clamp = up, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", fir_filter())  # NVlabs stores it in every layer

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), up=self.up, kernel=self.resample_filter)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        x = F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * LRELU_GAIN
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp else x


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        x = x + self.bias[None, :, None, None]
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp else x


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, config: StyleGAN2Config, resolution: int) -> None:
        super().__init__()
        self.first = in_channels == 0
        clamp = config.conv_clamp
        self.register_buffer("resample_filter", fir_filter())
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, config.w_dim, resolution, True, clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, config.w_dim, resolution, False, clamp)
        self.torgb = ToRGBLayer(out_channels, config.img_channels, config.w_dim, clamp)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: list[torch.Tensor],
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first:
            x = self.const[None].repeat(ws[0].shape[0], 1, 1, 1)
        else:
            x = self.conv0(x, ws.pop(0), noise_mode)
        x = self.conv1(x, ws.pop(0), noise_mode)
        if img is not None:
            img = upfirdn2d(img, self.resample_filter, up=2, pad=(2, 1, 2, 1), gain=4)
        rgb = self.torgb(x, ws[0])
        return x, rgb if img is None else img + rgb


class SynthesisNetwork(nn.Module):
    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        channels = [0, *config.channels]
        for index, resolution in enumerate(config.resolutions):
            self.add_module(f"b{resolution}", SynthesisBlock(channels[index], channels[index + 1], config,
                                                             resolution))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        x = img = None
        w_list = list(ws.unbind(dim=1))
        for resolution in self.config.resolutions:
            block = getattr(self, f"b{resolution}")
            x, img = block(x, img, w_list, noise_mode)
        return img


class StyleGAN2Generator(nn.Module):
    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)
        self.z_dim, self.w_dim, self.num_classes = config.z_dim, config.w_dim, config.c_dim
        self.resolution = config.img_resolution

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)


def detect_stylegan2(sd: Mapping[str, torch.Tensor], conv_clamp: float | None = 256.0) -> StyleGAN2Config:
    resolutions = sorted(int(m.group(1)) for key in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight",
                                                                             key)))
    if not resolutions or "mapping.w_avg" not in sd:
        raise KeyError("no synthesis.bN.conv1 / mapping.w_avg tensors")
    layers = sum(1 for key in sd if re.fullmatch(r"mapping\.fc\d+\.weight", key))
    embed = sd.get("mapping.embed.weight")
    return StyleGAN2Config(
        z_dim=int(sd["mapping.fc0.weight"].shape[1]) - (int(embed.shape[0]) if embed is not None else 0),
        w_dim=int(sd["mapping.w_avg"].shape[0]),
        c_dim=int(embed.shape[1]) if embed is not None else 0,
        img_resolution=resolutions[-1],
        img_channels=int(sd[f"synthesis.b{resolutions[-1]}.torgb.weight"].shape[0]),
        mapping_layers=layers,
        embed_features=int(embed.shape[0]) if embed is not None else None,
        layer_features=int(sd["mapping.fc0.weight"].shape[0]) if layers > 1 else None,
        channels=tuple(int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in resolutions),
        conv_clamp=conv_clamp,
    )
