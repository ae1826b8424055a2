"""CycleGAN and pix2pix generators as junyanz/pytorch-CycleGAN-and-pix2pix's ``models/networks.py`` defines them,
with its key names, so its ``latest_net_G.pth`` / ``<name>_net_G.pth`` state dicts load as they are.

- ResNet (``resnet_6blocks``, ``resnet_9blocks``; CycleGAN's default): ``model.N.*`` — 7x7 conv, two stride-2
  convs, N residual blocks (reflection padding), two transposed convs, 7x7 conv, tanh.
- U-Net (``unet_128``: 7 downs, ``unet_256``: 8 downs; pix2pix's default): nested skip blocks,
  ``model.model.1.model.3.model.1.weight``...; the innermost sees 1x1 at the named size.

Norms: ``batch`` (BatchNorm2d, affine, running statistics), ``instance`` (InstanceNorm2d without affine: no
tensors, and convs before a norm then have biases) or ``none``. Everything is read from tensor names and shapes
(``detect_spec``); only U-Net dropout leaves no tensor, so it comes from the caller (pix2pix trains with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DOWNSAMPLINGS = 2  # ResNet generators: two stride-2 convs down, two transposed convs up
FIRST_BLOCK = 1 + 3 * (1 + DOWNSAMPLINGS)  # index of the first residual block in ``model`` (pad, 3x [conv, norm, relu])
LEGACY_STATS = (".running_mean", ".running_var", ".num_batches_tracked")  # InstanceNorm buffers of pre-0.4 files


@dataclass(frozen=True)
class TranslatorSpec:
    architecture: str  # "resnet" | "unet"
    depth: int  # residual blocks (ResNet) or downsamplings (U-Net)
    norm: str  # "batch" | "instance" | "none"
    use_dropout: bool
    ngf: int = 64
    input_nc: int = 3
    output_nc: int = 3

    @property
    def name(self) -> str:
        """The reference's ``--netG`` name: resnet_9blocks, unet_256, ..."""
        if self.architecture == "resnet":
            return f"resnet_{self.depth}blocks"
        return f"unet_{2 ** self.depth}"

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (the U-Net halves its input ``depth`` times)."""
        return 2 ** DOWNSAMPLINGS if self.architecture == "resnet" else 2 ** self.depth


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose train mode normalises with the batch's own statistics but never updates the stored ones,
    so a cached model stays as it was read."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return BatchNorm(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels)  # affine=False, no running statistics: each image's own statistics
    return nn.Identity()


class ResnetBlock(nn.Module):
    """x + (pad, conv 3x3, norm, relu, [dropout], pad, conv 3x3, norm)."""

    def __init__(self, dim: int, norm: str, use_dropout: bool) -> None:
        super().__init__()
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if use_dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def conv_norm_relu(conv: nn.Module, norm: str, channels: int) -> list[nn.Module]:
    return [conv, norm_layer(norm, channels), nn.ReLU(True)]


def resnet_layers(spec: TranslatorSpec) -> list[nn.Module]:
    ngf, norm, bias = spec.ngf, spec.norm, spec.norm == "instance"
    layers: list[nn.Module] = [nn.ReflectionPad2d(3)]
    layers += conv_norm_relu(nn.Conv2d(spec.input_nc, ngf, 7, bias=bias), norm, ngf)
    for i in range(DOWNSAMPLINGS):
        width = ngf * 2**i
        layers += conv_norm_relu(nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias), norm, width * 2)
    layers += [ResnetBlock(ngf * 2**DOWNSAMPLINGS, norm, spec.use_dropout) for _ in range(spec.depth)]
    for i in range(DOWNSAMPLINGS, 0, -1):
        width = ngf * 2**i
        up = nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
        layers += conv_norm_relu(up, norm, width // 2)
    return layers + [nn.ReflectionPad2d(3), nn.Conv2d(ngf, spec.output_nc, 7), nn.Tanh()]


class ResnetGenerator(nn.Module):
    def __init__(self, spec: TranslatorSpec) -> None:
        super().__init__()
        self.model = nn.Sequential(*resnet_layers(spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up; the input is concatenated to the output (a skip
    connection) except at the outermost level, which ends in tanh."""

    def __init__(self, outer: int, inner: int, norm: str, inside: UnetBlock | None = None, input_nc: int | None = None,
                 use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = input_nc is not None
        bias = norm == "instance"
        down = nn.Conv2d(input_nc or outer, inner, 4, stride=2, padding=1, bias=bias)
        if self.outermost:
            layers = [down, inside, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1),
                      nn.Tanh()]
        elif inside is None:  # innermost: no norm at the 1x1 bottleneck
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias), norm_layer(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), inside, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias), norm_layer(norm, outer)]
            layers += [nn.Dropout(0.5)] if use_dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Built from the bottleneck outwards: innermost (ngf*8), depth-5 more at ngf*8 (with dropout), then ngf*4,
    ngf*2, ngf and the outermost level."""

    def __init__(self, spec: TranslatorSpec) -> None:
        super().__init__()
        ngf, norm = spec.ngf, spec.norm
        block = UnetBlock(ngf * 8, ngf * 8, norm)
        for _ in range(spec.depth - 5):
            block = UnetBlock(ngf * 8, ngf * 8, norm, block, use_dropout=spec.use_dropout)
        for outer in (ngf * 4, ngf * 2, ngf):
            block = UnetBlock(outer, outer * 2, norm, block)
        self.model = UnetBlock(spec.output_nc, ngf, norm, block, input_nc=spec.input_nc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_translator_network(spec: TranslatorSpec) -> nn.Module:
    if spec.architecture == "resnet":
        return ResnetGenerator(spec)
    if spec.depth < 5:
        raise ValueError(f"a U-Net generator has at least 5 downsamplings, not {spec.depth}")
    return UnetGenerator(spec)


def is_translator(sd: Mapping[str, torch.Tensor]) -> bool:
    """A CycleGAN/pix2pix generator's keys (ResNet ``model.1.weight`` 7x7, or U-Net ``model.model.0.weight``)."""
    first = sd.get("model.1.weight")
    return "model.model.0.weight" in sd or (first is not None and first.ndim == 4 and first.shape[-1] == 7)


def detect_norm(sd: Mapping[str, torch.Tensor], first_conv: str, first_norm: str) -> str:
    """Convs before an instance norm carry biases; a batch norm has weights; with neither there is no norm."""
    if f"{first_conv}.bias" in sd:
        return "instance"
    return "batch" if f"{first_norm}.weight" in sd else "none"


def detect_resnet(sd: Mapping[str, torch.Tensor]) -> TranslatorSpec:
    first = sd["model.1.weight"]
    blocks = 0
    while f"model.{FIRST_BLOCK + blocks}.conv_block.1.weight" in sd:
        blocks += 1
    second_conv = sd.get(f"model.{FIRST_BLOCK}.conv_block.6.weight")  # with dropout the second conv moves 5 -> 6
    last = sd[f"model.{FIRST_BLOCK + blocks + 3 * DOWNSAMPLINGS + 1}.weight"]
    return TranslatorSpec("resnet", blocks, detect_norm(sd, "model.1", "model.2"),
                          second_conv is not None and second_conv.ndim == 4, int(first.shape[0]), int(first.shape[1]),
                          int(last.shape[0]))


def unet_depth(sd: Mapping[str, torch.Tensor]) -> int:
    """Downsamplings: the outermost level plus each nested level (``.model.3`` is the next level inside)."""
    prefix, depth = "model.model.1", 1
    while f"{prefix}.model.1.weight" in sd:
        depth += 1
        prefix += ".model.3"
    return depth


def detect_unet(sd: Mapping[str, torch.Tensor], use_dropout: bool) -> TranslatorSpec:
    first = sd["model.model.0.weight"]
    norm = detect_norm(sd, "model.model.0", "model.model.1.model.2")
    return TranslatorSpec("unet", unet_depth(sd), norm, use_dropout, int(first.shape[0]), int(first.shape[1]),
                          int(sd["model.model.3.weight"].shape[1]))


def detect_spec(sd: Mapping[str, torch.Tensor], unet_dropout: bool = True) -> TranslatorSpec:
    """The generator a state dict holds; ``unet_dropout`` is what U-Net keys cannot tell (pix2pix: on)."""
    if "model.model.0.weight" in sd:
        return detect_unet(sd, unet_dropout)
    return detect_resnet(sd)


def reference_state_dict(sd: Mapping[str, torch.Tensor], spec: TranslatorSpec) -> dict[str, torch.Tensor]:
    """Drops what the reference's loader drops: InstanceNorm running statistics of files saved before PyTorch 0.4
    (its ``__patch_instance_norm_state_dict``), which an InstanceNorm without tracking never uses."""
    if spec.norm != "instance":
        return dict(sd)
    return {key: value for key, value in sd.items() if not key.endswith(LEGACY_STATS)}


def strip_module_prefix(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Files saved from ``nn.DataParallel`` prefix every key with ``module.``."""
    if sd and all(key.startswith("module.") for key in sd):
        return {key[len("module."):]: value for key, value in sd.items()}
    return dict(sd)
