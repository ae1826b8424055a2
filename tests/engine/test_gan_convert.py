"""The network-pickle converter: NVlabs-style pickles convert 1:1; pickles that would run code are refused."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

from engine.gan import GANGenerator, StyleGAN2Config, load_gan
from engine.gan.convert_pickle import RefusedPickle, UnsupportedNetwork, convert, main
from engine.gan.stylegan2 import StyleGAN2Generator

CONFIG = StyleGAN2Config(z_dim=16, w_dim=16, c_dim=3, img_resolution=16, mapping_layers=2, channels=(32, 32, 16))


def reference_generator() -> StyleGAN2Generator:
    torch.manual_seed(3)
    network = StyleGAN2Generator(CONFIG)
    for module in network.modules():
        if hasattr(module, "noise_strength"):
            module.noise_strength.data.fill_(0.2)
    network.mapping.w_avg.normal_()
    return network.eval()


@pytest.fixture
def nvlabs_modules(monkeypatch):
    """Modules named like NVlabs' (torch_utils.persistence, dnnlib.util), registered for this test only."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("the converter must not call the real persistence code")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(persistence=persistence, EasyDict=EasyDict)


class Persistent:
    """Pickles like an NVlabs @persistent_class object: source code and the module's __dict__ as state."""

    def __init__(self, module: torch.nn.Module, extra_state: dict, module_src: str) -> None:
        self.module, self.extra_state, self.module_src = module, extra_state, module_src

    def __reduce__(self):
        from torch_utils import persistence

        state = {"training": False, "_parameters": OrderedDict(self.module._parameters),
                 "_buffers": OrderedDict(self.module._buffers), "_non_persistent_buffers_set": set(),
                 "_forward_hooks": OrderedDict(), "act_gain": np.float64(np.sqrt(2)),
                 "_modules": OrderedDict((name, Persistent(child, {}, self.module_src))
                                         for name, child in self.module._modules.items()),
                 **self.extra_state}
        meta = {"type": "class", "version": 4, "module_src": self.module_src,
                "class_name": type(self.module).__name__, "state": state}
        return (persistence._reconstruct_persistent_obj, (meta,))


def write_snapshot(path, network, modules, marker, architecture: str = "skip") -> None:
    synthesis = modules.EasyDict(conv_clamp=256, channel_base=512, architecture=architecture)
    kwargs = modules.EasyDict(z_dim=16, w_dim=16, c_dim=3, img_resolution=16, img_channels=3,
                              mapping_kwargs=modules.EasyDict(num_layers=2), synthesis_kwargs=synthesis)
    extra = {"_init_args": (), "_init_kwargs": kwargs, "z_dim": 16, "c_dim": 3, "w_dim": 16, "img_resolution": 16}
    source = f"open({str(marker)!r}, 'w').close()"  # would leave a marker if anything executed it
    with path.open("wb") as handle:
        pickle.dump({"G": None, "D": None, "G_ema": Persistent(network, extra, source), "augment_pipe": None,
                     "training_set_kwargs": modules.EasyDict(resolution=16)}, handle)


def test_converted_pickle_matches_the_original_module(tmp_path, nvlabs_modules):
    network, marker = reference_generator(), tmp_path / "executed"
    write_snapshot(tmp_path / "network-snapshot.pkl", network, nvlabs_modules, marker)
    main([str(tmp_path / "network-snapshot.pkl"), str(tmp_path / "converted.safetensors")])
    assert not marker.exists()
    loaded = load_gan(tmp_path / "converted.safetensors")
    assert loaded.kind == "stylegan2" and loaded.num_classes == 3 and loaded.resolution == 16
    assert loaded.network.config.conv_clamp == 256
    original = GANGenerator("stylegan2", network)
    for seeds, psi, label in (([1, 2], 1.0, 0), ([5], 0.6, 2)):
        assert torch.equal(loaded.generate(seeds, psi, label), original.generate(seeds, psi, label))
    with torch.no_grad():  # and against the module called directly
        z, c = loaded.sample_z([9]), torch.eye(3)[[1]]
        expected = (network(z, c, 0.7, "const").clamp(-1, 1) + 1) / 2
    torch.testing.assert_close(loaded.generate([9], 0.7, 1), expected.movedim(1, -1))


def test_summary_carries_the_init_kwargs(tmp_path, nvlabs_modules):
    write_snapshot(tmp_path / "snap.pkl", reference_generator(), nvlabs_modules, tmp_path / "m")
    summary = convert(tmp_path / "snap.pkl", tmp_path / "out.safetensors")
    assert summary["tensors"] == len(reference_generator().state_dict())
    assert summary["config"]["synthesis_kwargs"] == {"conv_clamp": 256, "channel_base": 512, "architecture": "skip"}
    assert summary["config"]["c_dim"] == 3


def test_other_synthesis_architectures_are_refused(tmp_path, nvlabs_modules):
    write_snapshot(tmp_path / "resnet.pkl", reference_generator(), nvlabs_modules, tmp_path / "m", "resnet")
    with pytest.raises(UnsupportedNetwork, match="resnet"):
        convert(tmp_path / "resnet.pkl", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


class Reduce:
    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def payloads(marker):
    return {
        "os.system": Reduce(os.system, f"touch {marker}"),
        "builtins.eval": Reduce(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "subprocess": Reduce(subprocess.call, ["touch", str(marker)]),
        "builtins.exec": Reduce(builtins.exec, f"open({str(marker)!r}, 'w')"),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess", "builtins.exec"])
def test_pickles_that_run_code_are_refused_without_running(tmp_path, name):
    marker = tmp_path / "pwned"
    with (tmp_path / "evil.pkl").open("wb") as handle:
        pickle.dump({"G_ema": payloads(marker)[name]}, handle)
    with pytest.raises(RefusedPickle, match="refused to load"):
        convert(tmp_path / "evil.pkl", tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_a_payload_hidden_inside_a_network_is_refused(tmp_path, nvlabs_modules):
    marker = tmp_path / "pwned"
    network = reference_generator()
    extra = {"_init_kwargs": {"z_dim": 16}, "hook": payloads(marker)["os.system"]}
    with (tmp_path / "evil.pkl").open("wb") as handle:
        pickle.dump({"G_ema": Persistent(network, extra, "")}, handle)
    with pytest.raises(RefusedPickle, match="posix.system|os.system|nt.system"):
        convert(tmp_path / "evil.pkl", tmp_path / "out.safetensors")
    assert not marker.exists()


def test_a_pickle_without_a_generator_is_refused(tmp_path):
    with (tmp_path / "empty.pkl").open("wb") as handle:
        pickle.dump({"D": None}, handle)
    with pytest.raises(RefusedPickle, match="G_ema"):
        convert(tmp_path / "empty.pkl", tmp_path / "out.safetensors")
