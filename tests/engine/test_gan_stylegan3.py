"""StyleGAN3 against facts of NVlabs' published networks and small hand-checked cases: the filtered leaky ReLU
against a direct computation, the filters against SciPy's firwin, parameter counts and layer names of the six
published configs, translation (T) and rotation (R) equivariance, the pickle converter, and NVlabs' seeds.

NVlabs' code is not on PyPI: with ``STYLEGAN3_REFERENCE`` naming a checkout of github.com/NVlabs/stylegan3 (its
``training/``, ``torch_utils/`` and ``dnnlib/``), the last tests compare with its Generator on identical random
weights (max abs difference 1e-5 on outputs of magnitude ~0.1-10); they are skipped otherwise.
"""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pytest
import scipy.signal
import torch

from engine.gan import GANGenerator, load_gan, save_gan
from engine.gan.convert_pickle import convert
from engine.gan.filtered_lrelu import filtered_lrelu, lowpass_filter, upfirdn2d
from engine.gan.stylegan3 import StyleGAN3Config, StyleGAN3Generator, detect_stylegan3, layer_specs, published_config
from tests.engine.test_gan_convert import nvlabs_modules  # noqa: F401 - the fixture

TINY = StyleGAN3Config(z_dim=8, w_dim=8, c_dim=3, img_resolution=32, channel_base=512, channel_max=16, num_layers=6)
TINY_R = StyleGAN3Config(z_dim=8, w_dim=8, img_resolution=32, channel_base=512, channel_max=16, num_layers=6,
                         conv_kernel=1, use_radial_filters=True)


def tiny_generator(config: StyleGAN3Config = TINY, seed: int = 0) -> StyleGAN3Generator:
    """Random weights everywhere, with trained-looking buffers (input magnitudes, w average)."""
    torch.manual_seed(seed)
    network = StyleGAN3Generator(config).eval()
    for name, buffer in network.named_buffers():
        if name.endswith("magnitude_ema"):
            buffer.fill_(0.5)
    network.mapping.w_avg.normal_()
    return network


# ---- filtered_lrelu and its filters


def test_filtered_lrelu_matches_a_direct_computation():
    """2x up, lrelu, 2x down on a 1-channel 3x3 input, computed with explicit loops."""
    torch.manual_seed(0)
    x, bias = torch.randn(1, 1, 3, 3), torch.tensor([0.3])
    fu, fd = torch.tensor([0.25, 0.5, 0.25]), torch.tensor([0.5, 0.5])
    ours = filtered_lrelu(x, fu, fd, bias, up=2, down=2, padding=(1, 1, 1, 1), gain=1.5, slope=0.1, clamp=0.8)
    # Zero insertion, then padding 1 on each side: an 8x8 grid.
    grid = np.zeros((8, 8))
    grid[1:7:2, 1:7:2] = (x[0, 0] + 0.3).numpy()
    up = np.zeros((6, 6))  # 'valid' 2-D convolution with the separable 3-tap filter (gain up**2 = 4)
    kernel = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25]) * 4
    for i in range(6):
        for j in range(6):
            up[i, j] = (grid[i:i + 3, j:j + 3] * kernel[::-1, ::-1]).sum()
    act = np.clip(np.where(up > 0, up, 0.1 * up) * 1.5, -0.8, 0.8)
    down = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            down[i, j] = (act[i:i + 2, j:j + 2] * 0.25).sum()
    np.testing.assert_allclose(ours[0, 0].numpy(), down[::2, ::2], atol=1e-6)


def test_upfirdn2d_crops_with_negative_padding_and_scales_without_a_filter():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(upfirdn2d(x, None, padding=(-1, 0, 0, -2)), x[:, :, :2, 1:])
    assert torch.equal(upfirdn2d(x, None, up=2, gain=4)[0, 0, ::2, ::2], 4 * x[0, 0])
    two_d = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # a true convolution shifts by the filter's offset
    assert torch.equal(upfirdn2d(x, two_d, padding=(1, 0, 1, 0))[0, 0, 1:, 1:], x[0, 0, 1:, :3])


@pytest.mark.parametrize(("numtaps", "cutoff", "width", "fs"), [(12, 2.0, 6.3, 32), (24, 8.0, 4.0, 64),
                                                                 (12, 300.0, 200.0, 1024)])
def test_kaiser_filters_match_scipy_firwin(numtaps, cutoff, width, fs):
    expected = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
    np.testing.assert_allclose(lowpass_filter(numtaps, cutoff, width, fs).numpy(), expected, atol=1e-7)


def test_radial_filter_is_nvlabs_jinc_times_kaiser():
    numtaps, cutoff, width, fs = 12, 5.0, 6.0, 32
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    f *= np.outer(np.kaiser(numtaps, beta), np.kaiser(numtaps, beta))
    np.testing.assert_allclose(lowpass_filter(numtaps, cutoff, width, fs, radial=True).numpy(), f / f.sum(),
                               atol=1e-7)
    assert lowpass_filter(1, cutoff, width, fs) is None


# ---- facts of the published networks

# Parameter counts of NVlabs' Generator(z_dim=512, w_dim=512, c_dim=0, ...) for the published pickles' configs
# (train.py --cfg stylegan3-t/-r; 256: --cbase=16384 as docs/configs.md's FFHQ-U 256 row; R doubles the channels).
# The paper's Table (G: 22.3M for T, 15.1M for R at 1024) agrees.
PARAMETERS = {("t", 256): 23_320_443, ("t", 512): 24_873_519, ("t", 1024): 22_313_167,
              ("r", 256): 15_779_565, ("r", 512): 16_665_594, ("r", 1024): 15_093_151}
LAYER_NAMES = {
    ("t", 1024): "L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_148_512 L6_148_512 L7_276_323 L8_276_203 "
                 "L9_532_128 L10_1044_81 L11_1044_51 L12_1044_32 L13_1024_32 L14_1024_3",
    ("r", 1024): "L0_36_1024 L1_36_1024 L2_52_1024 L3_52_1024 L4_84_1024 L5_148_1024 L6_148_1024 L7_276_645 "
                 "L8_276_406 L9_532_256 L10_1044_161 L11_1044_102 L12_1044_64 L13_1024_64 L14_1024_3",
    ("t", 512): "L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_84_512 L6_148_512 L7_148_483 L8_276_323 "
                "L9_276_215 L10_532_144 L11_532_96 L12_532_64 L13_512_64 L14_512_3",
    ("r", 256): "L0_36_1024 L1_36_1024 L2_36_1024 L3_52_1024 L4_52_1024 L5_84_1024 L6_84_1024 L7_148_724 L8_148_512 "
                "L9_148_362 L10_276_256 L11_276_181 L12_276_128 L13_256_128 L14_256_3",
}
OTHER_KEYS = ["mapping.w_avg", "mapping.fc0.weight", "mapping.fc0.bias", "mapping.fc1.weight", "mapping.fc1.bias",
              "synthesis.input.weight", "synthesis.input.transform", "synthesis.input.freqs", "synthesis.input.phases",
              "synthesis.input.affine.weight", "synthesis.input.affine.bias"]


@pytest.mark.parametrize(("kind", "resolution"), sorted(PARAMETERS))
def test_published_configs_have_nvlabs_parameter_counts_and_layer_names(kind, resolution):
    network = StyleGAN3Generator(published_config(kind, resolution))
    assert sum(p.numel() for p in network.parameters()) == PARAMETERS[kind, resolution]
    if (kind, resolution) in LAYER_NAMES:
        assert network.synthesis.layer_names == LAYER_NAMES[kind, resolution].split()
    sd = network.state_dict()
    assert [k for k in sd if not k.startswith("synthesis.L")] == OTHER_KEYS
    published, detected = published_config(kind, resolution), detect_stylegan3(sd)
    fields = ("img_resolution", "num_layers", "margin_size", "conv_kernel", "use_radial_filters", "mapping_layers")
    assert [getattr(detected, f) for f in fields] == [getattr(published, f) for f in fields]
    assert [s.name for s in layer_specs(detected)] == network.synthesis.layer_names


def test_key_shapes_of_the_t_1024_file():
    """Per layer: weight [out, in, k, k], and the filters NVlabs store (None buffers are absent from the file)."""
    sd = StyleGAN3Generator(published_config("t", 1024)).state_dict()
    assert sd["synthesis.input.weight"].shape == (512, 512) and sd["synthesis.input.freqs"].shape == (512, 2)
    assert sd["synthesis.input.affine.weight"].shape == (4, 512) and sd["synthesis.input.transform"].shape == (3, 3)
    assert sd["synthesis.L0_36_512.weight"].shape == (512, 512, 3, 3)
    assert sd["synthesis.L10_1044_81.weight"].shape == (81, 128, 3, 3)
    assert sd["synthesis.L10_1044_81.up_filter"].shape == (24,)
    assert sd["synthesis.L10_1044_81.down_filter"].shape == (12,)
    assert sd["synthesis.L14_1024_3.weight"].shape == (3, 32, 1, 1)
    assert "synthesis.L14_1024_3.up_filter" not in sd and "synthesis.L14_1024_3.down_filter" not in sd
    assert sd["synthesis.L13_1024_32.magnitude_ema"].shape == ()
    layer_keys = {k.split(".", 2)[2] for k in sd if k.startswith("synthesis.L3_")}
    assert layer_keys == {"weight", "bias", "magnitude_ema", "up_filter", "down_filter", "affine.weight",
                          "affine.bias"}
    r = StyleGAN3Generator(published_config("r", 1024)).state_dict()
    assert r["synthesis.L0_36_1024.weight"].shape == (1024, 1024, 1, 1)
    assert r["synthesis.L11_1044_102.down_filter"].shape == (12, 12)  # radial where not critically sampled
    assert r["synthesis.L12_1044_64.down_filter"].shape == (12,)


# ---- equivariance


def test_config_t_is_translation_equivariant():
    """Translating the input transform by k/img_resolution moves the image k pixels (inside a border of 8)."""
    network = tiny_generator()
    ws = network.mapping(torch.randn(2, 8), torch.eye(3)[:2])
    with torch.no_grad():
        base = network.synthesis(ws)
        for shift, tolerance in ((2, 1e-4), (4, 1e-4), (1, 1e-3)):  # 1 pixel is half a sample at the input's rate
            network.synthesis.set_transform((shift / 32, 0))
            moved = network.synthesis(ws)
            error = (moved[..., 8:24, 8 + shift:24 + shift] - base[..., 8:24, 8:24]).abs().max()
            assert error < tolerance * base.abs().max()
            assert (moved - base)[..., 8:24, 8:24].abs().max() > 0.05 * base.abs().max()  # it did move
            network.synthesis.set_transform((0, shift / 32))
            moved = network.synthesis(ws)
            assert (moved[..., 8 + shift:24 + shift, 8:24] - base[..., 8:24, 8:24]).abs().max() < (
                tolerance * base.abs().max())


def test_config_r_is_rotation_equivariant_and_t_is_not():
    for config, equivariant in ((TINY_R, True), (TINY, False)):
        network = tiny_generator(config)
        ws = network.mapping(torch.randn(2, 8), torch.eye(3)[:2] if config.c_dim else None)
        with torch.no_grad():
            base = network.synthesis(ws)
            network.synthesis.set_transform(angle=90)
            rotated = network.synthesis(ws)
        error = (torch.rot90(base, 1, (2, 3)) - rotated)[..., 6:26, 6:26].abs().max()
        assert (error < 1e-4 * base.abs().max()) == equivariant


# ---- files, seeds and the pickle converter


def test_round_trip_keeps_the_settings_and_images(tmp_path):
    config = StyleGAN3Config(**{**TINY.__dict__, "output_scale": 0.5, "conv_clamp": 64.0})
    gan = GANGenerator("stylegan3", tiny_generator(config))
    save_gan(gan, tmp_path / "sg3.safetensors")
    loaded = load_gan(tmp_path / "sg3.safetensors")
    assert loaded.kind == "stylegan3" and replace(loaded.network.config, channels=()) == config
    assert torch.equal(loaded.generate([3, 4], 0.7, 1, truncation_cutoff=2), gan.generate([3, 4], 0.7, 1,
                                                                                         truncation_cutoff=2))


def test_seeds_truncation_and_labels_are_nvlabs():
    """gen_images.py: z = RandomState(seed).randn(1, z_dim); one-hot label; G(z, label, psi, cutoff)."""
    network = tiny_generator()
    gan = GANGenerator("stylegan3", network)
    with torch.no_grad():
        z = torch.from_numpy(np.random.RandomState(7).randn(1, 8)).float()
        label = torch.zeros(1, 3)
        label[:, 2] = 1
        expected = network(z, label, 0.6, 3)
    image = gan.generate([7], 0.6, 2, truncation_cutoff=3)
    torch.testing.assert_close(image, ((expected.clamp(-1, 1) + 1) / 2).movedim(1, -1))
    ws = gan.mapping(gan.sample_z([7]), 2, 0.6, 3)
    assert torch.equal(ws[:, 3:], gan.mapping(gan.sample_z([7]), 2)[:, 3:])  # the cutoff leaves later layers
    assert not torch.equal(ws[:, :3], gan.mapping(gan.sample_z([7]), 2)[:, :3])
    assert torch.equal(gan.generate([7], class_label=0, noise_mode="random"),
                       gan.generate([7], class_label=0, noise_mode="none"))  # no noise


class Persistent:
    """Pickles like an NVlabs @persistent_class object, with the attributes NVlabs' modules keep in __dict__."""

    def __init__(self, module: torch.nn.Module, extra: dict) -> None:
        self.module, self.extra = module, extra

    def __reduce__(self):
        from torch_utils import persistence

        module = self.module
        state = {"training": False, "_parameters": OrderedDict(module._parameters),
                 "_buffers": OrderedDict(module._buffers), "_non_persistent_buffers_set": set(),
                 "_modules": OrderedDict((n, Persistent(c, attributes(c))) for n, c in module._modules.items()),
                 **self.extra}
        meta = {"type": "class", "version": 4, "module_src": "raise SystemExit('executed')",
                "class_name": type(module).__name__, "state": state}
        return (persistence._reconstruct_persistent_obj, (meta,))


def attributes(module: torch.nn.Module) -> dict:
    """What NVlabs' SynthesisNetwork and SynthesisLayer keep (NumPy sizes and floats included)."""
    if hasattr(module, "layer_names"):
        return {"num_layers": module.config.num_layers, "num_critical": module.config.num_critical,
                "output_scale": module.config.output_scale, "margin_size": module.config.margin_size,
                "layer_names": list(module.layer_names), "num_fp16_res": 4}
    if hasattr(module, "spec"):
        return {"conv_clamp": module.conv_clamp, "in_size": np.broadcast_to(np.asarray(module.spec.in_size), [2]),
                "tmp_sampling_rate": np.float64(64), "padding": list(module.padding), "is_torgb": module.spec.is_torgb}
    return {}


def test_nvlabs_pickle_converts_without_running_code(tmp_path, nvlabs_modules):  # noqa: F811
    config = StyleGAN3Config(**{**TINY.__dict__, "output_scale": 0.5, "conv_clamp": 128.0})
    network = tiny_generator(config)
    kwargs = nvlabs_modules.EasyDict(z_dim=8, w_dim=8, c_dim=3, img_resolution=32, img_channels=3,
                                     mapping_kwargs=nvlabs_modules.EasyDict(num_layers=2), channel_base=512,
                                     channel_max=16, num_layers=6, magnitude_ema_beta=0.999)
    extra = {"_init_args": (), "_init_kwargs": kwargs, "z_dim": 8, "c_dim": 3, "w_dim": 8, "img_resolution": 32,
             "num_ws": 8}
    with (tmp_path / "stylegan3-t-tiny.pkl").open("wb") as handle:
        pickle.dump({"G": None, "D": None, "G_ema": Persistent(network, extra), "augment_pipe": None,
                     "training_set_kwargs": nvlabs_modules.EasyDict(resolution=32)}, handle)
    summary = convert(tmp_path / "stylegan3-t-tiny.pkl", tmp_path / "sg3.safetensors")
    assert summary["tensors"] == len(network.state_dict())
    loaded = load_gan(tmp_path / "sg3.safetensors")
    assert loaded.kind == "stylegan3" and replace(loaded.network.config, channels=()) == config
    original = GANGenerator("stylegan3", network)
    assert torch.equal(loaded.generate([0, 1], 0.8, 1), original.generate([0, 1], 0.8, 1))


# ---- NVlabs' own code, when a checkout is given


def nvlabs_generator_class() -> type:
    root = os.environ.get("STYLEGAN3_REFERENCE")
    if not root or not os.path.isfile(os.path.join(root, "training", "networks_stylegan3.py")):
        pytest.skip("set STYLEGAN3_REFERENCE to a checkout of github.com/NVlabs/stylegan3 to compare with it")
    if "pkg_resources" not in sys.modules:  # conv2d_gradfix imports it; new setuptools dropped it
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    sys.path.insert(0, root)
    try:
        from training.networks_stylegan3 import Generator
    finally:
        sys.path.remove(root)
    return Generator


@pytest.mark.parametrize("kind", ["t", "r"])
def test_matches_nvlabs_generator_on_identical_weights(kind):
    generator_class = nvlabs_generator_class()
    radial = {"conv_kernel": 1, "use_radial_filters": True} if kind == "r" else {}
    torch.manual_seed(1)
    reference = generator_class(z_dim=16, c_dim=3, w_dim=16, img_resolution=32, img_channels=3, channel_base=256,
                                channel_max=32, num_layers=6, **radial).eval()
    sd = reference.state_dict()
    for name, value in sd.items():
        if name.endswith(("magnitude_ema", "w_avg")):
            value.copy_(torch.rand_like(value) + 0.5)
    ours = StyleGAN3Generator(detect_stylegan3(sd))
    ours.load_state_dict(sd)
    fresh = StyleGAN3Generator(detect_stylegan3(sd)).state_dict()  # our filter design equals NVlabs' SciPy's
    for name in sd:
        if name.endswith("_filter"):
            torch.testing.assert_close(fresh[name], sd[name], atol=1e-7, rtol=0)
    z = torch.from_numpy(np.random.RandomState(5).randn(2, 16)).float()
    with torch.no_grad():
        for psi, cutoff in ((1.0, None), (0.7, 3)):
            expected = reference(z, torch.eye(3)[:2], truncation_psi=psi, truncation_cutoff=cutoff)
            torch.testing.assert_close(ours(z, torch.eye(3)[:2], psi, cutoff), expected, atol=1e-5, rtol=0)
        transform = torch.tensor([[0.8, 0.6, 0.1], [-0.6, 0.8, -0.05], [0, 0, 1]])
        reference.synthesis.input.transform.copy_(transform)
        ours.synthesis.input.transform.copy_(transform)
        ws = reference.mapping(z, torch.eye(3)[:2])
        torch.testing.assert_close(ours.synthesis(ws), reference.synthesis(ws), atol=1e-5, rtol=0)
