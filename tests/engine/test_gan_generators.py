"""DCGAN and StyleGAN2 behind GANGenerator, built small with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.gan import GANGenerator, StyleGAN2Config
from engine.gan.dcgan import DCGANGenerator
from engine.gan.stylegan2 import StyleGAN2Generator, fir_filter, modulated_conv2d

TINY = StyleGAN2Config(z_dim=16, w_dim=16, c_dim=0, img_resolution=16, mapping_layers=2, channels=(32, 32, 16))
CONDITIONAL = StyleGAN2Config(z_dim=16, w_dim=16, c_dim=4, img_resolution=8, mapping_layers=2, channels=(16, 16))


def stylegan(config: StyleGAN2Config = TINY, seed: int = 0) -> GANGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = StyleGAN2Generator(config)
        for module in network.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.data.fill_(0.3)
        network.mapping.w_avg.normal_()
    return GANGenerator("stylegan2", network)


def dcgan(channels: int = 3, seed: int = 0) -> GANGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = DCGANGenerator(nz=8, widths=[32, 16, channels])
        for module in network.modules():  # BN statistics away from the 0/1 defaults, as after training
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return GANGenerator("dcgan", network)


@pytest.mark.parametrize("make", [stylegan, dcgan], ids=["stylegan2", "dcgan"])
def test_shapes_ranges_determinism_and_seeds(make):
    generator = make()
    images = generator.generate([1, 2, 3])
    assert images.shape == (3, 16, 16, 3) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0
    assert generator.resolution == 16
    assert torch.equal(images, generator.generate([1, 2, 3]))
    assert not torch.allclose(images[0], images[1])
    # Each image depends only on its own seed, not on its place in the batch.
    torch.testing.assert_close(generator.generate([3])[0], images[2], atol=1e-5, rtol=0)


def test_latents_follow_each_kinds_reference_seeding():
    # StyleGAN2: NVlabs' generate.py, z = np.random.RandomState(seed).randn(1, z_dim); seed N is NVlabs' image N.
    expected = torch.from_numpy(np.stack([np.random.RandomState(s).randn(1, 16)[0] for s in (42, 7)])).float()
    assert torch.equal(stylegan().sample_z([42, 7]), expected)
    # seed + batch index may pass NumPy's 32-bit limit: it wraps (the last seed of a batch from 2**32 - 1 is 0)
    assert torch.equal(stylegan().sample_z([2**32])[0], stylegan().sample_z([0])[0])
    expected = torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(s)) for s in (42, 7)])
    assert torch.equal(dcgan().sample_z([42, 7]), expected)


def test_truncation_cutoff_truncates_only_the_first_layers():
    generator = stylegan()
    z = generator.sample_z([4])
    full, cut = generator.mapping(z, truncation=0.5), generator.mapping(z, truncation=0.5, truncation_cutoff=2)
    untruncated = generator.mapping(z)
    torch.testing.assert_close(cut[:, :2], full[:, :2])
    torch.testing.assert_close(cut[:, 2:], untruncated[:, 2:])
    assert not torch.allclose(full[:, 2:], untruncated[:, 2:])


def test_interface_sizes():
    assert (stylegan().z_dim, stylegan().w_dim, stylegan().num_classes, stylegan().needs_text) == (16, 16, 0, False)
    assert (dcgan().z_dim, dcgan().w_dim, dcgan().num_classes) == (8, None, 0)
    assert stylegan(CONDITIONAL).num_classes == 4
    with pytest.raises(ValueError, match="no mapping"):
        dcgan().mapping(torch.zeros(1, 8))


def test_grayscale_dcgan_is_repeated_to_rgb():
    images = dcgan(channels=1).generate([0, 1])
    assert images.shape == (2, 16, 16, 3)
    assert torch.equal(images[..., 0], images[..., 1]) and torch.equal(images[..., 0], images[..., 2])


@pytest.mark.parametrize("make", [stylegan, dcgan], ids=["stylegan2", "dcgan"])
def test_truncation_zero_gives_the_average_image_for_any_seed(make):
    generator = make()
    average = generator.generate([1, 2, 3], truncation=0.0)
    torch.testing.assert_close(average[0], average[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(average[0], average[2], atol=1e-6, rtol=0)
    assert not torch.allclose(generator.generate([1])[0], average[0])


def test_truncation_lerps_w_towards_the_stored_average():
    generator = stylegan()
    z = generator.sample_z([4])
    w_avg = generator.network.mapping.w_avg
    torch.testing.assert_close(generator.mapping(z, truncation=0.5),
                               (w_avg + 0.5 * (generator.mapping(z) - w_avg)), atol=1e-5, rtol=0)
    assert generator.mapping(z).shape == (1, TINY.num_ws, 16)


def test_noise_modes():
    generator = stylegan()
    const = generator.generate([5], noise_mode="const")
    assert torch.equal(const, generator.generate([5], noise_mode="const"))
    assert not torch.allclose(const, generator.generate([5], noise_mode="none"))
    torch.manual_seed(0)
    first = generator.generate([5], noise_mode="random")
    assert not torch.allclose(first, generator.generate([5], noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode"):
        generator.generate([5], noise_mode="loud")


def test_class_conditioning_changes_the_image():
    generator = stylegan(CONDITIONAL)
    assert not torch.allclose(generator.generate([1], class_label=0), generator.generate([1], class_label=3))
    with pytest.raises(ValueError, match="class label"):
        generator.generate([1])
    with pytest.raises(ValueError, match="class label"):
        generator.generate([1], class_label=4)


def test_synthesis_from_w_matches_generate():
    generator = stylegan()
    w = generator.mapping(generator.sample_z([2, 9]), truncation=0.8)
    torch.testing.assert_close(generator.synthesis(w), generator.generate([2, 9], truncation=0.8))


def fused_modulated_conv(x, weight, styles, up):
    """NVlabs' fused formulation: per-sample demodulated weights applied as one grouped convolution."""
    batch, in_channels, height, width = x.shape
    w = weight[None] * styles[:, None, :, None, None]
    w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, batch * in_channels, height, width)
    w = w.reshape(-1, in_channels, *weight.shape[2:])
    if not up:
        return F.conv2d(x, w, padding=1, groups=batch).reshape(batch, -1, height, width)
    w = w.reshape(batch, -1, in_channels, 3, 3).transpose(1, 2).reshape(batch * in_channels, -1, 3, 3)
    x = F.conv_transpose2d(x, w, stride=2, groups=batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    kernel = (fir_filter() * 4)[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, [1, 1, 1, 1]), kernel, groups=x.shape[1])


@pytest.mark.parametrize("up", [False, True])
def test_modulated_conv_matches_the_fused_formulation(up):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 5, 8, 8), torch.randn(6, 5, 3, 3), torch.randn(2, 5)
    ours = modulated_conv2d(x, weight, styles, up=up, kernel=fir_filter())
    assert ours.shape == (2, 6, 16 if up else 8, 16 if up else 8)
    torch.testing.assert_close(ours, fused_modulated_conv(x, weight, styles, up), atol=1e-4, rtol=1e-4)
