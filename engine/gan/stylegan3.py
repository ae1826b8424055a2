"""StyleGAN3 (alias-free) generator in plain torch, with NVlabs' parameter names so converted pickles load 1:1.

Mapping: as StyleGAN2 (normalised z and class embedding through an MLP to w, truncation towards ``w_avg``), two
layers by default. Synthesis: Fourier features of a transformed grid (``SynthesisInput``; the ``transform`` buffer
translates or rotates the image, as NVlabs' ``gen_images.py --translate/--rotate``), then ``num_layers`` modulated
convolutions, each followed by ``filtered_lrelu`` between its input and output sampling rates, and a ToRGB layer.
The layers' rates, cutoffs and sizes follow one geometric progression (``layer_specs``), so a file's layer names
(``L{index}_{size}_{channels}``) and a few settings fix the whole network.

Configs: T (translation equivariant: 3x3 convs, separable Kaiser filters) and R (rotation equivariant: 1x1 convs,
radially symmetric downsampling filters in the non-critically sampled layers, twice the channels).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.gan.filtered_lrelu import filtered_lrelu, lowpass_filter
from engine.gan.stylegan2 import FullyConnectedLayer, MappingNetwork


@dataclass(frozen=True)
class StyleGAN3Config:
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 2
    channel_base: int = 32768  # T; R doubles channel_base and channel_max
    channel_max: int = 512
    channels: tuple[int, ...] = ()  # per layer 0..num_layers (ToRGB last); empty: from channel_base/channel_max
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    conv_kernel: int = 3  # R: 1
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False  # R: True
    conv_clamp: float | None = 256.0
    # StyleGAN2's MappingNetwork with NVlabs' StyleGAN3 widths: class embedding and hidden layers are w_dim wide
    embed_features = None
    layer_features = None

    @property
    def num_ws(self) -> int:
        return self.num_layers + 2  # the input's w, then one per layer


# NVlabs' published StyleGAN3 configs (train.py --cfg, --cbase; R doubles the channels and uses 1x1 convolutions).
def published_config(kind: str, resolution: int) -> StyleGAN3Config:
    base = 16384 if resolution == 256 else 32768
    if kind == "t":
        return StyleGAN3Config(img_resolution=resolution, channel_base=base, channel_max=512)
    return StyleGAN3Config(img_resolution=resolution, channel_base=2 * base, channel_max=1024, conv_kernel=1,
                           use_radial_filters=True)


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer's sizes and frequencies (NVlabs' SynthesisNetwork arithmetic)."""

    index: int
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_rate: int
    out_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool

    @property
    def name(self) -> str:
        return f"L{self.index}_{self.out_size}_{self.out_channels}"


def frequencies(config: StyleGAN3Config) -> tuple[np.ndarray, ...]:
    """Per layer 0..num_layers: cutoffs, sampling rates, transition half-widths, sizes and channels."""
    last_cutoff = config.img_resolution / 2
    last_stopband = last_cutoff * config.last_stopband_rel
    exponents = np.minimum(np.arange(config.num_layers + 1) / (config.num_layers - config.num_critical), 1)
    cutoffs = config.first_cutoff * (last_cutoff / config.first_cutoff) ** exponents
    stopbands = config.first_stopband * (last_stopband / config.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, config.img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + config.margin_size * 2
    sizes[-2:] = config.img_resolution
    if config.channels:
        channels = np.array(config.channels, dtype=np.float64)
    else:
        channels = np.rint(np.minimum((config.channel_base / 2) / cutoffs, config.channel_max))
        channels[-1] = config.img_channels
    return cutoffs, rates, half_widths, sizes, channels


def layer_specs(config: StyleGAN3Config) -> list[LayerSpec]:
    cutoffs, rates, half_widths, sizes, channels = frequencies(config)
    specs = []
    for index in range(config.num_layers + 1):
        prev = max(index - 1, 0)
        specs.append(LayerSpec(
            index, int(channels[prev]), int(channels[index]), int(sizes[prev]), int(sizes[index]), int(rates[prev]),
            int(rates[index]), float(cutoffs[prev]), float(cutoffs[index]), float(half_widths[prev]),
            float(half_widths[index]), index == config.num_layers, index >= config.num_layers - config.num_critical))
    return specs


class SynthesisInput(nn.Module):
    """Fourier features: sinusoids of random frequencies in the band ``bandwidth``, rotated and translated by the
    affine of w, then by the user's ``transform`` (the inverse of the image transform), mixed by ``weight``."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, sampling_rate, bandwidth
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4, bias_init=0)
        self.affine.bias.data = torch.tensor([1.0, 0.0, 0.0, 0.0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (cos, sin, tx, ty) of the learned rotation and translation
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat(len(w), 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1], rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(len(w), 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform[None]
        phases = self.phases[None] + (self.freqs[None] @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs[None] @ transforms[:, :2, :2]
        # Dampen frequencies the user's transform pushed out of band.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta[None], [1, 1, self.size, self.size], align_corners=False)  # [1, H, W, 2]
        x = torch.einsum("hwk,bck->bhwc", grid[0], freqs) + phases[:, None, None]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.channels)).T
        return x.permute(0, 3, 1, 2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     input_gain: torch.Tensor) -> torch.Tensor:
    """StyleGAN3's modulated convolution (pre-normalised weight and styles, 'valid' + full padding)."""
    batch, in_channels = styles.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    w = w * input_gain
    kernel = weight.shape[-1]
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_channels, kernel, kernel), padding=kernel - 1,
                 groups=batch)
    return x.reshape(batch, -1, *x.shape[2:])


class SynthesisLayer(nn.Module):
    def __init__(self, spec: LayerSpec, config: StyleGAN3Config) -> None:
        super().__init__()
        self.spec = spec
        self.conv_kernel = 1 if spec.is_torgb else config.conv_kernel
        self.conv_clamp = config.conv_clamp
        self.affine = FullyConnectedLayer(config.w_dim, spec.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, self.conv_kernel,
                                               self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        tmp_rate = max(spec.in_rate, spec.out_rate) * (1 if spec.is_torgb else config.lrelu_upsampling)
        self.up_factor = tmp_rate // spec.in_rate
        self.down_factor = tmp_rate // spec.out_rate
        up_taps = config.filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        down_taps = config.filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        radial = config.use_radial_filters and not spec.is_critically_sampled
        self.register_buffer("up_filter", lowpass_filter(up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", lowpass_filter(down_taps, spec.out_cutoff, spec.out_half_width * 2,
                                                           tmp_rate, radial))
        # Pad so that the output keeps the symmetric sample positions of NVlabs' Appendix C.3.
        total = (spec.out_size - 1) * self.down_factor + 1
        total -= (spec.in_size + self.conv_kernel - 1) * self.up_factor
        total += up_taps + down_taps - 2
        low = (total + self.up_factor) // 2
        self.padding = (low, total - low, low, total - low)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if self.spec.is_torgb:
            styles = styles / math.sqrt(self.spec.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(x, self.weight, styles, not self.spec.is_torgb, self.magnitude_ema.rsqrt())
        gain, slope = (1.0, 1.0) if self.spec.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up_factor, self.down_factor,
                              self.padding, gain, slope, self.conv_clamp)


class SynthesisNetwork(nn.Module):
    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.config = config
        cutoffs, rates, _, sizes, channels = frequencies(config)
        self.input = SynthesisInput(config.w_dim, int(channels[0]), int(sizes[0]), float(rates[0]),
                                    float(cutoffs[0]))
        self.layer_names = []
        for spec in layer_specs(config):
            self.add_module(spec.name, SynthesisLayer(spec, config))
            self.layer_names.append(spec.name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Images [B, C, H, W] from w [B, num_ws, w_dim]; StyleGAN3 has no noise inputs (``noise_mode`` is ignored,
        as NVlabs' generator ignores it)."""
        ws = ws.float().unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, w)
        return x * self.config.output_scale

    def set_transform(self, translate: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> None:
        """Translate and rotate (degrees) the generated image, as ``gen_images.py --translate --rotate``; one unit
        of translation is ``img_resolution`` output pixels."""
        s, c = math.sin(math.radians(angle)), math.cos(math.radians(angle))
        m = torch.tensor([[c, s, translate[0]], [-s, c, translate[1]], [0.0, 0.0, 1.0]], dtype=torch.float64)
        self.input.transform.copy_(torch.linalg.inv(m).float())


class StyleGAN3Generator(nn.Module):
    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)
        self.z_dim, self.w_dim, self.num_classes = config.z_dim, config.w_dim, config.c_dim
        self.resolution = config.img_resolution

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff))


# Settings a file's tensor names and shapes cannot tell; the pickle converter stores NVlabs' values.
SETTINGS = ("first_cutoff", "first_stopband", "last_stopband_rel", "num_critical", "output_scale", "filter_size",
            "lrelu_upsampling", "conv_clamp", "channel_base", "channel_max")


def detect_stylegan3(sd: Mapping[str, torch.Tensor], settings: Mapping[str, Any] | None = None) -> StyleGAN3Config:
    """The config of a state dict in NVlabs' layout (``synthesis.input.*``, ``synthesis.L{i}_{size}_{channels}.*``);
    ``settings`` (the converter's metadata) give what names and shapes cannot."""
    layers = sorted((int(m.group(1)), int(m.group(2)), key.rsplit(".", 1)[0]) for key in sd
                    if (m := re.fullmatch(r"synthesis\.L(\d+)_(\d+)_\d+\.weight", key)))
    if not layers or "synthesis.input.freqs" not in sd:
        raise KeyError("no synthesis.input.freqs / synthesis.L{i}_{size}_{channels} tensors")
    embed = sd.get("mapping.embed.weight")
    last = layers[-1][2]
    config = StyleGAN3Config(
        z_dim=int(sd["mapping.fc0.weight"].shape[1]) - (int(embed.shape[0]) if embed is not None else 0),
        w_dim=int(sd["mapping.w_avg"].shape[0]),
        c_dim=int(embed.shape[1]) if embed is not None else 0,
        img_resolution=layers[-1][1],
        img_channels=int(sd[f"{last}.weight"].shape[0]),
        mapping_layers=sum(1 for key in sd if re.fullmatch(r"mapping\.fc\d+\.weight", key)),
        channels=tuple(int(sd[f"{prefix}.weight"].shape[0]) for _, _, prefix in layers),
        num_layers=len(layers) - 1,
        conv_kernel=int(sd[f"{layers[0][2]}.weight"].shape[-1]),
        use_radial_filters=any(v.ndim == 2 for k, v in sd.items() if k.endswith(".down_filter")),
        **{key: settings[key] for key in SETTINGS if settings and key in settings},
    )
    first_rate = frequencies(config)[1][0]
    return replace(config, margin_size=int(layers[0][1] - first_rate) // 2)
