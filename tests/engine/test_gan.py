"""GAN generators: DCGAN and StyleGAN2 built small with random weights, file round trips, and the pickle
converter that must never run code from a pickle."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from engine.gan import GANError, GANGenerator, StyleGAN2Config, load_gan, save_gan
from engine.gan.convert_pickle import RefusedPickle, convert
from engine.gan.dcgan import DCGANGenerator
from engine.gan.stylegan2 import StyleGAN2Generator

TINY = StyleGAN2Config(z_dim=16, w_dim=16, c_dim=0, img_resolution=16, mapping_layers=2, channels=(32, 32, 16))


def stylegan(config: StyleGAN2Config = TINY, seed: int = 0) -> GANGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = StyleGAN2Generator(config)
        for module in network.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.data.fill_(0.3)
        network.mapping.w_avg.normal_()
    return GANGenerator("stylegan2", network)


def dcgan(seed: int = 0) -> GANGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GANGenerator("dcgan", DCGANGenerator(nz=8, widths=[32, 16, 1]))


def test_shapes_ranges_and_determinism():
    for generator, size in ((stylegan(), 16), (dcgan(), 16)):
        images = generator.generate([1, 2, 3])
        assert images.shape == (3, size, size, 3) and images.min() >= 0 and images.max() <= 1
        assert torch.equal(images, generator.generate([1, 2, 3]))
        assert not torch.equal(images[0], images[1])


def test_truncation_zero_gives_the_average_image_for_any_seed():
    generator = stylegan()
    average = generator.generate([1, 2, 3], truncation=0.0)
    assert torch.allclose(average[0], average[1]) and torch.allclose(average[0], average[2])
    assert not torch.allclose(generator.generate([1], truncation=1.0)[0], average[0])


def test_noise_modes_and_class_conditioning():
    generator = stylegan()
    const = generator.generate([5], noise_mode="const")
    assert not torch.equal(const, generator.generate([5], noise_mode="none"))
    conditional = stylegan(StyleGAN2Config(z_dim=16, w_dim=16, c_dim=4, img_resolution=8, mapping_layers=2,
                                           channels=(16, 16)))
    assert not torch.equal(conditional.generate([1], class_label=0), conditional.generate([1], class_label=3))
    with pytest.raises(ValueError, match="class label"):
        conditional.generate([1])


def test_latents_follow_nvlabs_seeding_and_w_space_is_exposed():
    generator = stylegan()
    np.testing.assert_allclose(generator.sample_z([42])[0].numpy(),
                               np.random.RandomState(42).randn(16).astype(np.float32))
    w = generator.mapping(generator.sample_z([1, 2]))
    assert w.shape == (2, TINY.num_ws, 16)
    middle = generator.synthesis(w.mean(dim=0, keepdim=True))
    assert middle.shape == (1, 16, 16, 3)


def test_safetensors_round_trip_detects_each_kind(tmp_path):
    for generator in (stylegan(), dcgan()):
        path = tmp_path / f"{generator.kind}.safetensors"
        save_gan(generator, path)
        loaded = load_gan(path)
        assert loaded.kind == generator.kind
        assert torch.equal(loaded.generate([7]), generator.generate([7]))
    (tmp_path / "other.safetensors").write_bytes(b"")
    torch.save({}, tmp_path / "x.pt")
    with pytest.raises(GANError, match="x.pt"):
        load_gan(tmp_path / "x.pt")


# --- the pickle converter -------------------------------------------------------------------------------

@pytest.fixture
def nvlabs_modules(monkeypatch):
    """Stand-ins for NVlabs' torch_utils.persistence, registered for this test only."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what unpickling NVlabs' files would call (we never do)
        raise AssertionError("the converter must not call the real persistence code")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", persistence)
    return persistence


class Persistent:
    """Pickles like an NVlabs @persistent_class object: its source code travels inside the file."""

    def __init__(self, module: torch.nn.Module, class_name: str, init_kwargs: dict | None = None) -> None:
        self.module, self.class_name, self.init_kwargs = module, class_name, init_kwargs or {}

    def __reduce__(self):
        from torch_utils import persistence

        state = {"_parameters": dict(self.module._parameters), "_buffers": dict(self.module._buffers),
                 "_modules": {name: Persistent(child, type(child).__name__)
                              for name, child in self.module._modules.items()},
                 "init_kwargs": self.init_kwargs}
        meta = {"type": "class", "version": 4, "module_src": "import os; os.system('rm -rf /')",
                "class_name": self.class_name, "state": state}
        return (persistence._reconstruct_persistent_obj, (meta,))


def test_converter_round_trips_a_network_pickle(tmp_path, nvlabs_modules):
    generator = stylegan(seed=3)
    kwargs = {"z_dim": 16, "w_dim": 16, "c_dim": 0, "img_resolution": 16, "img_channels": 3,
              "synthesis_kwargs": {"conv_clamp": 256}}
    with (tmp_path / "network-snapshot.pkl").open("wb") as handle:
        pickle.dump({"G_ema": Persistent(generator.network, "Generator", kwargs), "augment_pipe": None}, handle)
    summary = convert(tmp_path / "network-snapshot.pkl", tmp_path / "converted.safetensors")
    assert summary["tensors"] == len(generator.network.state_dict())
    loaded = load_gan(tmp_path / "converted.safetensors")
    assert loaded.kind == "stylegan2"
    assert torch.equal(loaded.generate([1, 2], truncation=0.7), generator.generate([1, 2], truncation=0.7))


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "subprocess"])
def test_converter_refuses_pickles_that_run_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        evil = Exploit(str(marker))
    elif payload == "builtins.eval":
        class Eval:
            def __reduce__(self):
                return (eval, (f"open({str(marker)!r}, 'w')",))
        evil = Eval()
    else:
        import subprocess

        class Sub:
            def __reduce__(self):
                return (subprocess.call, (["touch", str(marker)],))
        evil = Sub()
    with (tmp_path / "evil.pkl").open("wb") as handle:
        pickle.dump({"G_ema": evil}, handle)
    with pytest.raises(RefusedPickle, match="refused to load"):
        convert(tmp_path / "evil.pkl", tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()
