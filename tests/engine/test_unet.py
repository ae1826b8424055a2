"""Our LDM UNet against diffusers' UNet2DConditionModel with identical random weights, and config detection."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.sd.unet import UNetConfig, UNetModel, detect_unet_config
from tests.factories import TINY_UNET, random_module

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402

SD15_KEYS = Path("/work/shared/reference/sd15/sd15_keys.json")
REL_TOL = 1e-4  # max |ours - diffusers| / max |diffusers| in float32

# Three levels: attention at the first two, none at the last (as SD1's last level).
SMALL = UNetConfig(
    model_channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=1,
    transformer_depth=(1, 1, 0),
    transformer_depth_middle=1,
    context_dim=24,
    num_heads=8,
)


def diffusers_config(c: UNetConfig) -> dict:
    """The UNet2DConditionModel config that describes the same network as ``c``."""
    levels = len(c.channel_mult)
    down = tuple("CrossAttnDownBlock2D" if d else "DownBlock2D" for d in c.transformer_depth)
    up = tuple("CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(c.transformer_depth))
    channels = tuple(c.model_channels * m for m in c.channel_mult)
    if c.num_head_channels == -1:
        heads: int | tuple[int, ...] = c.num_heads
    else:
        heads = tuple(ch // c.num_head_channels for ch in channels)
    config = {
        "sample_size": 16,
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "down_block_types": down,
        "up_block_types": up,
        "block_out_channels": channels,
        "layers_per_block": c.num_res_blocks,
        "cross_attention_dim": c.context_dim,
        "attention_head_dim": heads,  # diffusers' name for the number of heads (see its issue #2011)
        "use_linear_projection": c.use_linear_in_transformer,
        "norm_num_groups": 32,
        "transformer_layers_per_block": 1,
    }
    if c.adm_in_channels is not None:
        config["class_embed_type"] = "projection"
        config["projection_class_embeddings_input_dim"] = c.adm_in_channels
    assert len(down) == levels
    return config


def pair(config: UNetConfig, seed: int = 0) -> tuple[UNetModel, torch.nn.Module]:
    ours = random_module(UNetModel, config, seed)
    dconf = diffusers_config(config)
    ldm = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    converted = convert_ldm_unet_checkpoint(ldm, dconf)
    theirs = diffusers.UNet2DConditionModel(**dconf).eval()
    missing, unexpected = theirs.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    return ours, theirs


def inputs(config: UNetConfig, h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, config.in_channels, h, w, generator=gen)
    t = torch.tensor([999.0, 421.5])
    ctx = torch.randn(2, 7, config.context_dim, generator=gen)
    return x, t, ctx


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    scale = theirs.abs().max().item()
    assert scale > 1e-2, "reference output is trivially small; the comparison would not be meaningful"
    rel = (ours - theirs).abs().max().item() / scale
    assert rel < REL_TOL, f"max relative difference {rel:.2e}"


@pytest.mark.parametrize("size", [(16, 16), (10, 14)])
def test_sd1_layout_matches_diffusers(size: tuple[int, int]) -> None:
    ours, theirs = pair(SMALL)
    x, t, ctx = inputs(SMALL, *size)
    with torch.no_grad():
        expected = theirs(x, t, encoder_hidden_states=ctx).sample
        got = ours(x, t, ctx)
    assert got.shape == x.shape
    assert_close(got, expected)


def test_linear_projection_and_head_width_match_diffusers() -> None:
    config = replace(SMALL, model_channels=64, use_linear_in_transformer=True, num_head_channels=64)
    ours, theirs = pair(config)
    x, t, ctx = inputs(config, 8, 8)
    with torch.no_grad():
        assert_close(ours(x, t, ctx), theirs(x, t, encoder_hidden_states=ctx).sample)


def test_label_embedding_matches_diffusers_projection_class_embedding() -> None:
    config = replace(SMALL, adm_in_channels=12)
    ours, theirs = pair(config)
    x, t, ctx = inputs(config, 8, 8)
    y = torch.randn(2, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = theirs(x, t, encoder_hidden_states=ctx, class_labels=y).sample
        assert_close(ours(x, t, ctx, y=y), expected)
        assert (ours(x, t, ctx, y=y) - ours(x, t, ctx, y=torch.zeros_like(y))).abs().max() > 1e-3


def test_control_residuals_match_diffusers() -> None:
    ours, theirs = pair(SMALL)
    x, t, ctx = inputs(SMALL, 16, 16)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        skips = _skip_shapes(ours, x, t, ctx)
        down = [torch.randn(s, generator=gen) for s in skips]
        mid = torch.randn(skips[-1], generator=gen)
        expected = theirs(
            x,
            t,
            encoder_hidden_states=ctx,
            down_block_additional_residuals=tuple(down),
            mid_block_additional_residual=mid,
        ).sample
        got = ours(x, t, ctx, control={"down": down, "mid": mid})
        assert_close(got, expected)
        assert (got - ours(x, t, ctx)).abs().max() > 1e-3


def _skip_shapes(unet: UNetModel, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> list[torch.Size]:
    shapes: list[torch.Size] = []
    hooks = [b.register_forward_hook(lambda _m, _i, o: shapes.append(o.shape)) for b in unet.input_blocks]
    unet(x, t, ctx)
    for hook in hooks:
        hook.remove()
    return shapes


def test_detects_tiny_config_from_its_state_dict() -> None:
    sd = random_module(UNetModel, TINY_UNET, 0).state_dict()
    assert detect_unet_config(sd) == TINY_UNET
    assert detect_unet_config(random_module(UNetModel, SMALL, 0).state_dict()) == SMALL


def test_detects_linear_and_adm_configs() -> None:
    config = replace(SMALL, model_channels=64, use_linear_in_transformer=True, num_head_channels=64, adm_in_channels=12)
    with torch.device("meta"):
        sd = UNetModel(config).state_dict()
    assert detect_unet_config(sd) == config


def sd15_unet_meta() -> dict[str, torch.Tensor]:
    tensors = json.loads(SD15_KEYS.read_text())["tensors"]
    prefix = "model.diffusion_model."
    return {
        k[len(prefix) :]: torch.empty(v["shape"], device="meta") for k, v in tensors.items() if k.startswith(prefix)
    }


@pytest.mark.skipif(not SD15_KEYS.exists(), reason="SD1.5 key list not available")
def test_detects_real_sd15_layout() -> None:
    sd = sd15_unet_meta()
    config = detect_unet_config(sd)
    assert config.model_channels == 320
    assert config.channel_mult == (1, 2, 4, 4)
    assert config.num_res_blocks == 2
    assert config.transformer_depth == (1, 1, 1, 0)
    assert config.context_dim == 768
    assert (config.num_heads, config.num_head_channels) == (8, -1)
    assert not config.use_linear_in_transformer and config.adm_in_channels is None
    with torch.device("meta"):
        built = UNetModel(config).state_dict()
    assert {k: tuple(v.shape) for k, v in built.items()} == {k: tuple(v.shape) for k, v in sd.items()}
    assert sum(v.numel() for v in built.values()) == 859_520_964


@pytest.mark.slow
def test_full_size_sd15_matches_diffusers() -> None:
    config = UNetConfig()
    ours, theirs = pair(config)
    x, t, ctx = inputs(config, 32, 32)
    with torch.no_grad():
        assert_close(ours(x, t, ctx), theirs(x, t, encoder_hidden_states=ctx).sample)


def test_sdxl_layout_builds_and_round_trips_through_detection() -> None:
    # SDXL's UNet (diffusers' config: blocks 320/640/1280, transformer depths 0/2/10, context 2048, adm 2816).
    config = UNetConfig(
        model_channels=320,
        channel_mult=(1, 2, 4),
        transformer_depth=(0, 2, 10),
        transformer_depth_middle=10,
        context_dim=2048,
        num_head_channels=64,
        use_linear_in_transformer=True,
        adm_in_channels=2816,
    )
    with torch.device("meta"):
        unet = UNetModel(config)
    assert sum(p.numel() for p in unet.parameters()) == 2_567_463_684  # the published SDXL base UNet size
    assert detect_unet_config(unet.state_dict()) == config
