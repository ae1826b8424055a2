"""ESRGAN-family upscalers against spandrel (ComfyUI's upscale-model loader) on the same random weights, in both
key layouts, and through the nodes from a BasicSR-style ``.pth`` file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.upscale import esrgan_from_state_dict, upscale
from tests.factories import random_rrdbnet

spandrel = pytest.importorskip("spandrel")


def to_original_layout(sd: dict[str, torch.Tensor], blocks: int = 2) -> dict[str, torch.Tensor]:
    """BasicSR names -> the original ESRGAN names (``model.N``), the layout of 4x-UltraSharp and friends."""
    out = {}
    ups = sorted(k for k in sd if k.startswith("conv_up") and k.endswith(".weight"))
    tail = {"conv_first": 0, **{f"conv_up{i + 1}": 3 * (i + 1) for i in range(len(ups))}}
    tail["conv_hr"] = 3 * len(ups) + 2
    tail["conv_last"] = 3 * len(ups) + 4
    for key, value in sd.items():
        module, kind = key.rsplit(".", 1)
        if module.startswith("body."):
            _, block, rdb, conv = module.split(".")
            out[f"model.1.sub.{block}.RDB{rdb[-1]}.{conv}.0.{kind}"] = value
        elif module == "conv_body":
            out[f"model.1.sub.{blocks}.{kind}"] = value
        else:
            out[f"model.{tail[module]}.{kind}"] = value
    return out


def reference(sd: dict[str, torch.Tensor]) -> torch.nn.Module:
    return spandrel.ModelLoader().load_from_state_dict(sd).model.eval()


@pytest.mark.parametrize(("upsamples", "unshuffle", "layout"), [
    (2, 1, "basicsr"), (2, 1, "original"), (2, 2, "basicsr"), (3, 1, "original")],
    ids=["x4-basicsr", "x4-original", "x2plus", "x8-original"])
def test_matches_spandrel(upsamples: int, unshuffle: int, layout: str) -> None:
    sd = random_rrdbnet(upsamples, unshuffle).state_dict()
    if layout == "original":
        sd = to_original_layout(sd)
    ours = esrgan_from_state_dict(sd)
    theirs = reference(sd)
    x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == expected.shape == (1, 3, 12 * ours.scale, 16 * ours.scale)
    assert ours.scale == 2**upsamples // unshuffle
    assert (got - expected).abs().max() / expected.abs().max() < 1e-5


def test_tiles_blend_into_the_whole_image_and_odd_sizes_work() -> None:
    net = esrgan_from_state_dict(random_rrdbnet(2, 2).state_dict())  # x2 with unshuffle: needs even sizes
    image = torch.rand(1, 37, 41, 3, generator=torch.Generator().manual_seed(2))
    whole = upscale(net, image, tile=512)
    tiled = upscale(net, image, tile=24, overlap=8)
    assert whole.shape == tiled.shape == (1, 74, 82, 3)
    assert float(whole.min()) >= 0 and float(whole.max()) <= 1
    assert (whole - tiled).abs().mean() < 0.05  # seams blend; the network's receptive field exceeds a tile


def test_basicsr_pth_file_through_the_nodes(tmp_path: Path) -> None:
    from engine.upscale import read_upscale_model

    path = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": random_rrdbnet().state_dict()}, path)
    model = read_upscale_model(path)
    assert model.scale == 4
    bad = tmp_path / "not_an_upscaler.safetensors"
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match="only ESRGAN-family"):
        read_upscale_model(bad)


def test_batches_run_image_by_image_with_progress() -> None:
    net = esrgan_from_state_dict(random_rrdbnet().state_dict())
    images = torch.rand(2, 20, 28, 3, generator=torch.Generator().manual_seed(3))
    reports: list[tuple[int, int]] = []
    both = upscale(net, images, tile=16, overlap=4, on_tile=lambda done, total: reports.append((done, total)))
    assert both.shape == (2, 80, 112, 3)
    torch.testing.assert_close(both[1:], upscale(net, images[1:], tile=16, overlap=4))
    assert [done for done, _ in reports] == list(range(1, len(reports) + 1))
    assert reports[-1] == (8, 8)  # 2 x 2 tiles per image
