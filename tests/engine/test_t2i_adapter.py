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


def reference_adapter(in_channels: int = 3, seed: int = 0, xl: bool = False) -> torch.nn.Module:
    """diffusers' adapter with seeded random weights: SD1-style (2 levels) or SDXL-style (4 blocks, unshuffle 16)."""
    kind = {"channels": [64, 128, 256, 256], "downscale_factor": 16, "adapter_type": "full_adapter_xl"} if xl else {
        "channels": [32, 64], "downscale_factor": 8, "adapter_type": "full_adapter"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = diffusers.T2IAdapter(in_channels=in_channels, num_res_blocks=2, **kind)
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


def test_sdxl_adapter_features_and_placement_match_diffusers() -> None:
    from dataclasses import replace

    from tests.engine.test_families import sdxl_pair
    from tests.factories import TINY_SDXL_UNET

    theirs = reference_adapter(seed=7, xl=True)
    ours = t2i_adapter_from_state_dict(dict(theirs.state_dict()))
    assert ours.xl and ours.hint_channels == 3
    gen = torch.Generator().manual_seed(8)
    hint = torch.rand(1, 3, 64, 96, generator=gen)
    with torch.no_grad():
        expected = theirs(hint)
    for a, b in zip(ours.features(hint), expected, strict=True):
        assert_close(a, b)

    # A three-level SDXL-style UNet. diffusers adds the first feature after the level-0 skip is taken, ComfyUI and
    # the original before (so the skip carries it too): the comparison zeroes it and checks it separately.
    config = replace(TINY_SDXL_UNET, channel_mult=(1, 2, 4), num_res_blocks=2, transformer_depth=(0, 1, 1),
                     transformer_depth_middle=1)
    unet, reference = sdxl_pair(config)
    x, t = torch.randn(1, 4, 8, 12, generator=gen), torch.tensor([600.0])
    context, pooled = torch.randn(1, 5, config.context_dim, generator=gen), torch.randn(1, 32, generator=gen)
    time_ids = torch.tensor([[64.0, 96.0, 0.0, 0.0, 64.0, 96.0]])
    from engine.sd.model_inputs import adm_vector, sdxl_adm

    y = adm_vector({"pooled_output": pooled}, sdxl_adm({}, 64, 96, False), config.adm_in_channels)
    control = ours(x, hint, t, context, y)
    without_first = {**control, "after_downsample": [torch.zeros_like(control["after_downsample"][0])]}
    with torch.no_grad():
        want = reference(x, t, encoder_hidden_states=context, added_cond_kwargs={"text_embeds": pooled,
                         "time_ids": time_ids}, down_intrablock_additional_residuals=[
                             torch.zeros_like(expected[0]), *[f.clone() for f in expected[1:]]]).sample
        have = unet(x, t, context, y=y, control=without_first)
        full = unet(x, t, context, y=y, control=control)
        plain = unet(x, t, context, y=y)
    assert_close(have, want)
    assert (have - plain).abs().max() > 1e-3 and (full - have).abs().max() > 1e-3


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


def test_sdxl_adapter_hints_are_padded_to_its_grid() -> None:
    theirs = reference_adapter(in_channels=1, seed=9, xl=True)
    ours = t2i_adapter_from_state_dict(dict(theirs.state_dict()))
    assert ours.hint_channels == 1
    features = ours.features(torch.rand(1, 3, 72, 88))  # latent 9x11: not a multiple of 16 pixels / 2 latents
    assert [tuple(f.shape[-2:]) for f in features] == [(5, 6), (5, 6), (3, 3), (3, 3)]


def test_an_adapter_for_another_family_is_named() -> None:
    sd1 = t2i_adapter_from_state_dict(dict(reference_adapter().state_dict()))
    with pytest.raises(ValueError, match="made for SD1.x but the model is SDXL"):
        sd1(torch.zeros(1, 4, 8, 8), torch.rand(1, 3, 64, 64), torch.tensor([1.0]), torch.zeros(1, 5, 24),
            torch.zeros(1, 2816))
