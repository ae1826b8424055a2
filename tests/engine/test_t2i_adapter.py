"""T2I-Adapter against diffusers' T2IAdapter and UNet (``down_intrablock_additional_residuals``), same weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from engine.controlnet import ControlNetHint, load_controlnet
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.unet_config import UNetConfig
from engine.t2i_adapter import T2IAdapter, diffusers_adapter_to_original, t2i_adapter_from_state_dict
from tests.engine.test_unet import assert_close, pair

diffusers = pytest.importorskip("diffusers")

# Attention at every level: diffusers adds the last level's feature after the skip when that level has no
# attention (DownBlock2D), where the original and ComfyUI add it before; with attention they agree.
CONFIG = UNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=2, transformer_depth=(1, 1),
                    context_dim=24, num_heads=8)


def reference_adapter(in_channels: int = 3, seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = diffusers.T2IAdapter(in_channels=in_channels, channels=[32, 64], num_res_blocks=2,
                                       downscale_factor=8, adapter_type="full_adapter")
    return adapter.eval()


def test_features_and_unet_match_diffusers() -> None:
    theirs = reference_adapter()
    ours = t2i_adapter_from_state_dict(dict(theirs.state_dict()))
    gen = torch.Generator().manual_seed(1)
    hint = torch.rand(2, 3, 64, 96, generator=gen)
    with torch.no_grad():
        expected = theirs(hint)
        got = ours.features(hint)
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected, strict=True):
        assert_close(a, b)

    unet, reference_unet = pair(CONFIG)
    x = torch.randn(2, 4, 8, 12, generator=gen)
    t = torch.tensor([900.0, 300.0])
    context = torch.randn(2, 5, 24, generator=gen)
    with torch.no_grad():
        want = reference_unet(x, t, encoder_hidden_states=context,
                              down_intrablock_additional_residuals=[f.clone() for f in expected]).sample
        have = unet(x, t, context, control=ours(x, hint, t, context))
        plain = unet(x, t, context)
    assert_close(have, want)
    assert (have - plain).abs().max() > 1e-3


def test_original_layout_file_loads_through_the_controlnet_loader(tmp_path: Path) -> None:
    theirs = reference_adapter(in_channels=1, seed=2)
    original = diffusers_adapter_to_original(dict(theirs.state_dict()))
    assert "body.2.in_conv.weight" in original and "conv_in.weight" in original
    path = tmp_path / "t2iadapter_sketch.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in original.items()}, str(path))
    adapter = load_controlnet(path)
    assert isinstance(adapter, T2IAdapter) and adapter.hint_channels == 1
    rgb = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = theirs(rgb.mean(dim=1, keepdim=True))  # an RGB hint is read as grey by a 1-channel adapter
    for a, b in zip(adapter.features(rgb), expected, strict=True):
        assert_close(a, b)


def test_the_adapter_runs_once_per_hint_and_strength_scales(tmp_path: Path) -> None:
    adapter = t2i_adapter_from_state_dict(dict(reference_adapter(seed=4).state_dict()))
    calls = []
    adapter.register_forward_hook(lambda *_: calls.append(1))
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(5))
    x, t, context = torch.randn(2, 4, 8, 8), torch.tensor([500.0, 500.0]), torch.randn(2, 5, 24)
    to_sigma = ModelSamplingDiscrete().percent_to_sigma
    full = ControlNetHint(adapter, image, strength=1.0)
    half = ControlNetHint(adapter, image, strength=0.5)
    first = full.residuals(x, t, context, to_sigma(0.5), to_sigma)
    again = full.residuals(x * 2, t * 0.5, context, to_sigma(0.6), to_sigma)
    assert len(calls) == 1 and all(torch.equal(a, b) for a, b in zip(first["input"], again["input"], strict=True))
    scaled = half.residuals(x, t, context, to_sigma(0.5), to_sigma)["input"]
    assert all(torch.allclose(s, f * 0.5) for s, f in zip(scaled, first["input"], strict=True))


def test_sdxl_adapters_are_refused_by_name() -> None:
    sd = dict(reference_adapter().state_dict())
    sd["adapter.conv_in.weight"] = torch.zeros(32, 256, 3, 3)
    with pytest.raises(ValueError, match="SDXL"):
        t2i_adapter_from_state_dict(sd)


def test_odd_latent_sizes_line_up_with_the_unet() -> None:
    adapter = t2i_adapter_from_state_dict(dict(reference_adapter(seed=6).state_dict()))
    unet, _ = pair(CONFIG)
    x, t, context = torch.randn(1, 4, 9, 11), torch.tensor([400.0]), torch.randn(1, 5, 24)
    hint = torch.rand(1, 3, 72, 88)
    features = adapter.features(hint)
    assert [tuple(f.shape[-2:]) for f in features] == [(9, 11), (5, 6)]
    # The original's padding: an odd edge averages one padded zero in, so edge values are halved.
    with torch.no_grad():
        out = unet(x, t, context, control=adapter(x, hint, t, context))
    assert out.shape == x.shape and torch.isfinite(out).all()
