"""Convert a StyleGAN2(-ADA) or StyleGAN3 network pickle into Atelier's safetensors file, without running its code.

    python -m engine.gan.convert_pickle network-snapshot.pkl models/gan/ffhq.safetensors

NVlabs' pickles rebuild their classes from source code stored inside the file, so plain unpickling runs
whatever the file contains. This reader allows only what rebuilds tensors and plain data; NVlabs'
persistent objects become inert stand-ins whose state is read, never executed. Anything else is refused
with the name of what it tried to load.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import pickle
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from engine.gan.files import gan_from_state_dict

try:
    from numpy._core import multiarray as numpy_multiarray
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray as numpy_multiarray


class RefusedPickle(pickle.UnpicklingError):
    pass


class UnsupportedNetwork(ValueError):
    """A safe pickle holding a network variant we do not implement."""


class PersistentStandIn:
    """What an NVlabs persistent object (a network or its sub-module) becomes: its class name and state."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.class_name = meta.get("class_name", "?")
        self.state = meta.get("state") or {}


class EasyDict(dict):
    """Stand-in for dnnlib.EasyDict (a dict with attribute access; holds plain data)."""


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> PersistentStandIn:
    return PersistentStandIn(meta)


def _load_storage_from_bytes(data: bytes) -> Any:
    """Storages inside plain pickles are nested torch.save blobs: read them with weights_only=True."""
    return torch.load(io.BytesIO(data), weights_only=True)


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}
# NumPy scalars and arrays (NVlabs' modules keep e.g. np.sqrt(2) gains as attributes); their contents are
# themselves unpickled through this same allow-list.
NUMPY_ALLOWED: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
for _numpy_module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    NUMPY_ALLOWED[(_numpy_module, "scalar")] = numpy_multiarray.scalar
    NUMPY_ALLOWED[(_numpy_module, "_reconstruct")] = numpy_multiarray._reconstruct
ALLOWED.update(NUMPY_ALLOWED)
ALLOWED.update({("torch", name): getattr(torch, name) for name in (
    "FloatStorage", "HalfStorage", "DoubleStorage", "BFloat16Storage", "LongStorage", "IntStorage",
    "ByteStorage", "BoolStorage", "float32", "float16", "bfloat16", "float64", "int64", "uint8", "bool")})

HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, whose attributes can be set


def private_copy(value: Any) -> Any:
    """What a pickle gets for an allowed global: a copy of its own where the global is a Python function or class.

    A pickle's BUILD sets attributes on what is on its stack, so handing it ``torch._utils._rebuild_tensor_v2`` itself
    would let a file change that function's defaults (or EasyDict's methods) for every later load in the process.
    A wrapper function, or a subclass, takes those attributes instead; built-in functions and types refuse them."""
    if isinstance(value, types.FunctionType):
        def call(*args: Any, **kwargs: Any) -> Any:
            return value(*args, **kwargs)
        return call
    if isinstance(value, type) and value.__flags__ & HEAP_TYPE:
        return type(value)(value.__name__, (value,), {"__module__": value.__module__})
    return value


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return private_copy(ALLOWED[(module, name)])
        raise RefusedPickle(f"refused to load {module}.{name}: only tensors, plain data and NVlabs' persistent "
                            "network objects may appear in a network pickle")


def read_network_pickle(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = RestrictedUnpickler(handle).load()
    if not isinstance(data, dict):
        raise RefusedPickle(f"{path.name} does not hold a dict of networks")
    return data


def module_tensors(obj: PersistentStandIn, prefix: str = "") -> dict[str, torch.Tensor]:
    """A stand-in module's parameters and buffers, recursively, named as state_dict() would name them."""
    tensors: dict[str, torch.Tensor] = {}
    for bucket in ("_parameters", "_buffers"):
        for name, value in (obj.state.get(bucket) or {}).items():
            if isinstance(value, torch.Tensor):
                tensors[prefix + name] = value.detach().clone().contiguous()
    for name, child in (obj.state.get("_modules") or {}).items():
        if isinstance(child, PersistentStandIn):
            tensors.update(module_tensors(child, f"{prefix}{name}."))
        elif child is not None:
            raise RefusedPickle(f"sub-module {prefix}{name} is not a persistent network object")
    return tensors


def convert(source: Path, target: Path) -> dict[str, Any]:
    data = read_network_pickle(source)
    generator = data.get("G_ema") or data.get("G")
    if not isinstance(generator, PersistentStandIn):
        raise RefusedPickle(f"{source.name} has no G_ema generator")
    tensors = module_tensors(generator)
    config = generator_config(generator)
    if "synthesis.input.freqs" in tensors:
        settings = stylegan3_settings(generator, config)
        metadata = {"atelier_gan": "stylegan3", **{key: json.dumps(value) for key, value in settings.items()}}
    else:
        synthesis = config.get("synthesis_kwargs") or {}
        if synthesis.get("architecture", "skip") != "skip":
            raise UnsupportedNetwork(f"{source.name}: synthesis architecture {synthesis['architecture']!r}; "
                                     "only StyleGAN2's 'skip' generator is supported")
        settings = {"conv_clamp": synthesis.get("conv_clamp")}
        metadata = {"atelier_gan": "stylegan2", "conv_clamp": json.dumps(settings["conv_clamp"])}
    metadata.update(source=source.name, init_kwargs=json.dumps(config, default=str))
    gan_from_state_dict(tensors, settings, source.name)  # refuse files we could not load later
    save_file(tensors, str(target), metadata=metadata)
    return {"tensors": len(tensors), "config": config}


def stylegan3_settings(generator: PersistentStandIn, config: dict[str, Any]) -> dict[str, Any]:
    """What a StyleGAN3 file's names and shapes cannot tell: the synthesis network's and its layers' attributes
    (output_scale, num_critical, conv_clamp), and the init kwargs that shaped the filters where they were set."""
    from engine.gan.stylegan3 import SETTINGS

    settings = {key: config[key] for key in SETTINGS if key in config}
    settings.update({key: config["synthesis_kwargs"][key] for key in SETTINGS
                     if key in (config.get("synthesis_kwargs") or {})})
    synthesis = generator.state.get("_modules", {}).get("synthesis")
    if isinstance(synthesis, PersistentStandIn):
        settings.update({key: plain(synthesis.state[key]) for key in ("output_scale", "num_critical")
                         if key in synthesis.state})
        layers = [child for child in (synthesis.state.get("_modules") or {}).values()
                  if isinstance(child, PersistentStandIn) and "conv_clamp" in child.state]
        if layers:
            settings["conv_clamp"] = plain(layers[0].state["conv_clamp"])
    return settings


def plain(value: Any) -> Any:
    """Plain JSON-able data (NumPy scalars become Python numbers; EasyDicts become dicts)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def generator_config(generator: PersistentStandIn) -> dict[str, Any]:
    """Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs)."""
    state = generator.state
    config = {key: plain(state[key]) for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels",
                                                  "num_ws") if key in state}
    config.update(plain(dict(state.get("_init_kwargs") or state.get("init_kwargs") or {})))
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    summary = convert(args.pickle, args.output)
    print(f"wrote {args.output} ({summary['tensors']} tensors)")


if __name__ == "__main__":
    main()
