"""Our ControlNet against diffusers' ControlNetModel with the same random (non-zero) weights."""

from __future__ import annotations

import pytest
import torch

from engine.controlnet import ControlNet, ControlNetHint, controlnet_from_state_dict
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sd.unet_config import UNetConfig

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint  # noqa: E402

CONFIG = UNetConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, transformer_depth=(1, 1, 0),
                    context_dim=24, num_heads=8)
WIDTHS = (8, 8, 16, 16, 16, 16, 32)
REL_TOL = 1e-4


def random_controlnet(seed: int = 0) -> ControlNet:
    """Default PyTorch init everywhere, so the zero convolutions are not zero and the test can fail."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ControlNet(CONFIG, 3, WIDTHS)
    return net.eval().requires_grad_(False)


def reference(net: ControlNet) -> torch.nn.Module:
    config = {
        "in_channels": 4, "conditioning_channels": 3,
        "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        "block_out_channels": (32, 64, 64), "layers_per_block": 1, "cross_attention_dim": 24,
        "attention_head_dim": 8, "norm_num_groups": 32, "conditioning_embedding_out_channels": (8, 16, 16, 32),
    }
    ldm = {"control_model." + key: value for key, value in net.state_dict().items()}
    model = diffusers.ControlNetModel(**config)
    model.load_state_dict(convert_controlnet_checkpoint(ldm, config))
    return model.eval()


def inputs(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 4, 8, 8, generator=gen), torch.rand(2, 3, 64, 64, generator=gen),
            torch.tensor([10, 700]), torch.randn(2, 5, 24, generator=gen))


def test_residuals_match_diffusers():
    net = random_controlnet()
    x, hint, t, context = inputs()
    ours = net(x, hint, t, context)
    with torch.no_grad():
        down, mid = reference(net)(x, t, context, controlnet_cond=hint, return_dict=False)
    assert len(ours["down"]) == len(down) == 6
    for a, b in zip([*ours["down"], ours["mid"]], [*down, mid], strict=True):
        assert b.abs().max() > 1e-3  # not the all-zero output of a freshly initialised ControlNet
        assert (a - b).abs().max() / b.abs().max() < REL_TOL


def test_loads_from_a_prefixed_file_and_detects_sizes():
    net = random_controlnet(3)
    loaded = controlnet_from_state_dict({"control_model." + k: v for k, v in net.state_dict().items()})
    assert loaded.config == CONFIG
    x, hint, t, context = inputs(4)
    torch.testing.assert_close(loaded(x, hint, t, context)["mid"], net(x, hint, t, context)["mid"])


def test_strength_scales_range_gates_and_chains_add():
    first, second = random_controlnet(5), random_controlnet(6)
    x, _, t, context = inputs(7)
    image = torch.rand(1, 64, 64, 3)
    to_sigma = ModelSamplingDiscrete().percent_to_sigma
    sigma = to_sigma(0.5)

    def residuals(hint: ControlNetHint):
        return hint.residuals(x, t, context, sigma, to_sigma)

    single = ControlNetHint(first, image, strength=1.0)
    base = residuals(single)
    torch.testing.assert_close(residuals(ControlNetHint(first, image, strength=0.5))["mid"], base["mid"] * 0.5)
    assert residuals(ControlNetHint(first, image, strength=0.0)) is None
    assert residuals(ControlNetHint(first, image, start_percent=0.6)) is None
    assert residuals(ControlNetHint(first, image, end_percent=0.4)) is None
    chained = residuals(ControlNetHint(second, image, previous=single))
    alone = residuals(ControlNetHint(second, image))
    torch.testing.assert_close(chained["mid"], base["mid"] + alone["mid"])


def test_diffusers_layout_files_load_and_match_diffusers():
    net = random_controlnet(8)
    theirs = reference(net)
    loaded = controlnet_from_state_dict(dict(theirs.state_dict()))  # the layout diffusers saves
    assert loaded.config == CONFIG
    x, hint, t, context = inputs(9)
    ours = loaded(x, hint, t, context)
    with torch.no_grad():
        down, mid = theirs(x, t, context, controlnet_cond=hint, return_dict=False)
    for a, b in zip([*ours["down"], ours["mid"]], [*down, mid], strict=True):
        assert b.abs().max() > 1e-3
        assert (a - b).abs().max() / b.abs().max() < REL_TOL


def test_sdxl_controlnet_takes_the_size_vector():
    config = UNetConfig(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, transformer_depth=(0, 2),
                        transformer_depth_middle=2, context_dim=16, num_head_channels=64,
                        use_linear_in_transformer=True, adm_in_channels=40)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ControlNet(config, 3, WIDTHS).eval()
    loaded = controlnet_from_state_dict({"control_model." + k: v for k, v in net.state_dict().items()})
    assert loaded.config == config
    gen = torch.Generator().manual_seed(1)
    x, hint, context = torch.randn(1, 4, 8, 8, generator=gen), torch.rand(1, 3, 64, 64, generator=gen), \
        torch.randn(1, 3, 16, generator=gen)
    y = torch.randn(1, 40, generator=gen)
    with torch.no_grad():
        with_y = loaded(x, hint, torch.tensor([500]), context, y)["mid"]
        other_y = loaded(x, hint, torch.tensor([500]), context, torch.zeros_like(y))["mid"]
    assert (with_y - other_y).abs().max() > 1e-4


def test_files_that_are_not_controlnets_keep_the_layout_hint(tmp_path):
    import safetensors.torch

    from engine.controlnet import ControlNetError, load_controlnet

    path = tmp_path / "vae.safetensors"
    safetensors.torch.save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(path))
    with pytest.raises(ControlNetError, match="vae.safetensors is not a ControlNet: .*Expected the original layout"):
        load_controlnet(path)
    light = diffusers.T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=1, adapter_type="light_adapter")
    path = tmp_path / "light.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in light.state_dict().items()}, str(path))
    with pytest.raises(ControlNetError, match="light.safetensors is a T2I-Adapter 'light' file"):
        load_controlnet(path)


def test_a_controlnet_for_another_family_is_named():
    from engine.controlnet import ControlNetError

    net = random_controlnet()
    x, hint, t, context = inputs()
    with pytest.raises(ControlNetError, match="made for 24-wide text .* but the model is SDXL"):
        net(x, hint, t, context, torch.zeros(2, 2816))
    with pytest.raises(ControlNetError, match="but the model is SD1.x/SD2.x with 32-wide"):
        net(x, hint, t, torch.zeros(2, 5, 32))
