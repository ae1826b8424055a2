"""load_gan / save_gan: safetensors round trips, architecture detection, settings beside the file, errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from engine.gan import GANError, GANGenerator, StyleGAN2Config, load_gan, save_gan
from engine.gan.dcgan import DCGANGenerator
from engine.gan.stylegan2 import StyleGAN2Generator

CONFIG = StyleGAN2Config(z_dim=8, w_dim=12, c_dim=3, img_resolution=16, mapping_layers=3, channels=(16, 16, 8),
                         embed_features=6, layer_features=10, conv_clamp=None)


def stylegan(config: StyleGAN2Config = CONFIG) -> GANGenerator:
    torch.manual_seed(1)
    network = StyleGAN2Generator(config)
    network.mapping.w_avg.normal_()
    return GANGenerator("stylegan2", network)


def dcgan() -> GANGenerator:
    torch.manual_seed(2)
    return GANGenerator("dcgan", DCGANGenerator(nz=5, widths=[16, 8, 8, 3]))


@pytest.mark.parametrize("make", [stylegan, dcgan], ids=["stylegan2", "dcgan"])
def test_round_trip_detects_each_kind_and_its_sizes(tmp_path, make):
    generator = make()
    save_gan(generator, tmp_path / "model.safetensors")
    loaded = load_gan(tmp_path / "model.safetensors")
    assert loaded.kind == generator.kind and loaded.name == "model.safetensors"
    assert (loaded.z_dim, loaded.w_dim, loaded.num_classes, loaded.resolution) == (
        generator.z_dim, generator.w_dim, generator.num_classes, generator.resolution)
    label = 1 if generator.num_classes else None
    assert torch.equal(loaded.generate([7, 8], class_label=label), generator.generate([7, 8], class_label=label))


def test_stylegan_sizes_come_from_shapes(tmp_path):
    save_file({k: v.contiguous() for k, v in stylegan().network.state_dict().items()},
              str(tmp_path / "bare.safetensors"))
    config = load_gan(tmp_path / "bare.safetensors").network.config
    assert (config.z_dim, config.w_dim, config.c_dim, config.img_resolution, config.mapping_layers) == (8, 12, 3, 16, 3)
    assert (config.embed_features, config.layer_features, config.channels) == (6, 10, (16, 16, 8))
    assert config.conv_clamp == 256  # shapes cannot tell it: NVlabs' training default


def test_json_beside_the_file_sets_what_shapes_cannot_tell(tmp_path):
    save_gan(stylegan(), tmp_path / "clamped.safetensors")
    assert load_gan(tmp_path / "clamped.safetensors").network.config.conv_clamp is None
    (tmp_path / "clamped.json").write_text(json.dumps({"conv_clamp": 0.01}))
    clamped = load_gan(tmp_path / "clamped.safetensors")
    assert clamped.network.config.conv_clamp == 0.01
    assert not torch.allclose(clamped.generate([1], class_label=0), stylegan().generate([1], class_label=0))


def test_files_without_the_constant_filter_buffers_still_load(tmp_path):
    generator = stylegan()
    tensors = {k: v.contiguous() for k, v in generator.network.state_dict().items()
               if not k.endswith("resample_filter")}
    save_file(tensors, str(tmp_path / "older.safetensors"))
    assert torch.equal(load_gan(tmp_path / "older.safetensors").generate([3], class_label=2),
                       generator.generate([3], class_label=2))


def test_nvlabs_key_names(tmp_path):
    keys = set(stylegan().network.state_dict())
    expected = {"mapping.w_avg", "mapping.embed.weight", "mapping.fc2.bias", "synthesis.b4.const",
                "synthesis.b4.resample_filter", "synthesis.b4.conv1.resample_filter", "synthesis.b4.conv1.noise_const",
                "synthesis.b4.conv1.noise_strength", "synthesis.b4.conv1.affine.weight", "synthesis.b4.torgb.weight",
                "synthesis.b8.conv0.weight", "synthesis.b16.torgb.affine.bias"}
    assert expected <= keys


def test_errors_name_the_file(tmp_path):
    torch.save({}, tmp_path / "x.pt")
    with pytest.raises(GANError, match="x.pt"):
        load_gan(tmp_path / "x.pt")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(GANError, match="broken.safetensors"):
        load_gan(tmp_path / "broken.safetensors")
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(tmp_path / "unet.safetensors"))
    with pytest.raises(GANError, match="unet.safetensors.*not a known GAN"):
        load_gan(tmp_path / "unet.safetensors")
    tensors = {k: v.contiguous() for k, v in dcgan().network.state_dict().items()}
    tensors["main.99.extra"] = torch.zeros(1)
    save_file(tensors, str(tmp_path / "odd.safetensors"))
    with pytest.raises(GANError, match="odd.safetensors.*do not fit"):
        load_gan(tmp_path / "odd.safetensors")
