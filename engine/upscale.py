"""ESRGAN-family upscalers (RRDBNet): ESRGAN, Real-ESRGAN x4plus / x2plus, 4x-UltraSharp, Remacri and the many
community models trained with the same network.

Both key layouts load: the original ESRGAN one (``model.0``, ``model.1.sub.N.RDB1.conv1.0`` ...) and BasicSR's
(``conv_first``, ``body.N.rdb1.conv1`` ...). Sizes come from the tensors: the
feature width, the block count, the number of 2x upsampling steps, and a pixel-unshuffle on the input for
Real-ESRGAN's x2 (12 input channels) and x1 (48) models. Images are tiled so large ones fit in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.device import AUTO, Devices
from engine.sd.materialize import build_with_weights, compute_copy, is_on
from engine.sd.tiling import tile_starts, tiled_map


class ResidualDenseBlock(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        for index in range(1, 6):
            out = features if index == 5 else growth
            setattr(self, f"conv{index}", nn.Conv2d(features + (index - 1) * growth, out, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for index in range(1, 5):
            outputs.append(F.leaky_relu(getattr(self, f"conv{index}")(torch.cat(outputs, 1)), 0.2))
        return self.conv5(torch.cat(outputs, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth)
        self.rdb2 = ResidualDenseBlock(features, growth)
        self.rdb3 = ResidualDenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, features: int, blocks: int, growth: int,
                 upsamples: int, unshuffle: int) -> None:
        super().__init__()
        self.unshuffle, self.upsamples = unshuffle, upsamples
        self.scale = 2**upsamples // unshuffle
        self.conv_first = nn.Conv2d(in_channels * unshuffle**2, features, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, padding=1)
        for index in range(1, upsamples + 1):
            setattr(self, f"conv_up{index}", nn.Conv2d(features, features, 3, padding=1))
        self.conv_hr = nn.Conv2d(features, features, 3, padding=1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        for index in range(1, self.upsamples + 1):
            up = F.interpolate(features, scale_factor=2, mode="nearest")
            features = F.leaky_relu(getattr(self, f"conv_up{index}")(up), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(features), 0.2))


def original_to_basicsr(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original ESRGAN names (``model.N``...) as BasicSR's: the sequential's last convolutions are, in order,
    the upsampling convs, ``conv_hr`` and ``conv_last``."""
    out: dict[str, torch.Tensor] = {}
    blocks = {int(m.group(1)) for key in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", key))}
    tail = sorted({int(m.group(1)) for key in sd
                   if (m := re.match(r"model\.(\d+)\.weight", key)) and m.group(1) not in ("0", "1")})
    names = {0: "conv_first"}
    names.update({index: f"conv_up{n + 1}" for n, index in enumerate(tail[:-2])})
    names.update({tail[-2]: "conv_hr", tail[-1]: "conv_last"})
    for key, value in sd.items():
        if m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", key):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
        elif m := re.match(r"model\.1\.sub\.(\d+)\.(weight|bias)$", key):
            if int(m.group(1)) != len(blocks):
                raise KeyError(f"unexpected ESRGAN tensor {key!r}")
            out[f"conv_body.{m.group(2)}"] = value
        elif m := re.match(r"model\.(\d+)\.(weight|bias)$", key):
            out[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
        else:
            raise KeyError(f"unexpected ESRGAN tensor {key!r}")
    return out


def is_esrgan(sd: Mapping[str, torch.Tensor]) -> bool:
    return "conv_first.weight" in sd or "model.0.weight" in sd


def esrgan_from_state_dict(sd: Mapping[str, torch.Tensor]) -> RRDBNet:
    """Raises ``KeyError`` naming what is missing when ``sd`` is not an RRDBNet."""
    if "model.0.weight" in sd:
        sd = original_to_basicsr(sd)
    first, last = sd["conv_first.weight"], sd["conv_last.weight"]
    out_channels = int(last.shape[0])
    unshuffle = {1: 1, 4: 2, 16: 4}.get(int(first.shape[1]) // out_channels, 1)
    blocks = len({int(m.group(1)) for key in sd if (m := re.match(r"body\.(\d+)\.", key))})
    upsamples = len({key for key in sd if re.match(r"conv_up\d+\.weight$", key)})

    def build() -> RRDBNet:
        return RRDBNet(int(first.shape[1]) // unshuffle**2, out_channels, int(first.shape[0]), blocks,
                       int(sd["body.0.rdb1.conv1.weight"].shape[0]), upsamples, unshuffle)

    return build_with_weights(build, sd)


def read_upscale_model(path: Path) -> RRDBNet:
    """An ESRGAN-family network from its weights file; other upscalers are refused by name."""
    from engine.sd.state_dict import load_state_dict

    sd = load_state_dict(path)
    if not is_esrgan(sd):
        raise ValueError(f"{path.name} is not an upscale model Atelier can run: only ESRGAN-family networks "
                         "(conv_first / model.0 tensors: ESRGAN, Real-ESRGAN, 4x-UltraSharp ...) are supported")
    try:
        return esrgan_from_state_dict(sd).eval().requires_grad_(False)
    except KeyError as error:
        raise ValueError(f"{path.name}: unexpected ESRGAN layout ({error})") from error


def upscale(model: RRDBNet, image: torch.Tensor, tile: int = 512, overlap: int = 32,
            on_tile: Callable[[int, int], None] | None = None, devices: Devices = AUTO) -> torch.Tensor:
    """IMAGE [B, H, W, 3] in 0..1 -> IMAGE [B, H*scale, W*scale, 3] on the CPU. Runs on the policy's compute device,
    one image and one tile at a time, so memory does not grow with the batch; ``on_tile(done, total)`` reports
    progress."""
    device = devices.compute_device()
    dtype = devices.compute_dtype(next(model.parameters()).dtype, device)
    runner = model if is_on(model, device, dtype) else compute_copy(model, device, dtype)
    step = model.unshuffle  # unshuffling models need sizes (and tile offsets) on their grid: pad, then crop
    height, width = image.shape[1:3]
    tiles = len(tile_starts(height + -height % step, tile, overlap, step)) * len(
        tile_starts(width + -width % step, tile, overlap, step))
    outputs = []
    for index, frame in enumerate(image[..., :3]):
        x = frame.movedim(-1, 0)[None].to(device, dtype)
        x = F.pad(x, (0, -width % step, 0, -height % step), mode="replicate")
        report = None if on_tile is None else (lambda done, _, i=index: on_tile(i * tiles + done, len(image) * tiles))
        with torch.no_grad():
            out = tiled_map(x, runner, tile, overlap, model.scale, int(model.conv_last.weight.shape[0]), align=step,
                            on_tile=report)
        outputs.append(out[..., : height * model.scale, : width * model.scale].clamp(0, 1).float().cpu())
    return torch.cat(outputs).movedim(1, -1)
