"""A1111 hypernetworks: small MLPs that change the keys and values every attention of the UNet sees.

A file maps each attention input width (320, 640, 768, 1024, 1280 for SD1.x) to two modules, one for the keys and
one for the values; each is ``x + mlp(x) * strength``, where the MLP is built as A1111's ``HypernetworkModule``:
for every layer a ``Linear``, then the activation (except after the last layer unless ``activate_output``), then a
``LayerNorm`` when ``is_layer_norm``. Dropout is a training device and is left out. ComfyUI applies the modules to
the keys and values of both attentions of every transformer block (``attn1_patch`` and ``attn2_patch``), as A1111
does (self-attention's context is the hidden state itself); widths a file has no module for are left unchanged.

Files: A1111's ``.pt`` (a pickled dict of ints, strings, lists and tensors, read with ``torch.load(weights_only=
True)``), or ``.safetensors`` with the same tensors under ``"<width>.<0 keys | 1 values>.<layer key>"`` and the
options (``activation_func`` ...) in the file's metadata.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

# ComfyUI's activations (A1111's names; "swish" is Hardswish in both).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "swish": nn.Hardswish,
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softsign": nn.Softsign, "mish": nn.Mish,
}
OPTION_DEFAULTS = {"activation_func": "linear", "is_layer_norm": False, "activate_output": False}


class HypernetworkError(ValueError):
    """A hypernetwork file Atelier cannot read; the message says why."""


class Hypernetwork(nn.Module):
    """The modules of one file by attention input width: ``modules[str(width)]`` is ``[keys MLP, values MLP]``."""

    def __init__(self, modules: dict[int, tuple[nn.Sequential, nn.Sequential]], activation: str) -> None:
        super().__init__()
        self.activation = activation
        self.mlps = nn.ModuleDict({str(width): nn.ModuleList(pair) for width, pair in modules.items()})
        self.eval()

    @property
    def widths(self) -> list[int]:
        return sorted(int(width) for width in self.mlps)

    def patch(self, strength: float) -> HypernetworkPatch:
        return HypernetworkPatch(self, strength)


class HypernetworkPatch:
    """The attention patch (ComfyUI's ``p(q, k, v, extra_options) -> (q, k, v)``) adding ``mlp(k) * strength`` to the
    keys and ``mlp(v) * strength`` to the values; it computes in the attention's device and dtype."""

    def __init__(self, hypernetwork: Hypernetwork, strength: float) -> None:
        self.hypernetwork = hypernetwork
        self.strength = strength
        self._copies: dict[tuple[torch.device, torch.dtype], Hypernetwork] = {}

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 extra_options: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = str(k.shape[-1])
        if width not in self.hypernetwork.mlps:
            return q, k, v
        keys, values = self._on(k).mlps[width]
        with torch.no_grad():
            return q, k + keys(k) * self.strength, v + values(v) * self.strength

    def _on(self, like: torch.Tensor) -> Hypernetwork:
        place = (like.device, like.dtype)
        if place not in self._copies:
            first = next(self.hypernetwork.parameters())
            same = (first.device, first.dtype) == place
            self._copies[place] = self.hypernetwork if same else _copy_to(self.hypernetwork, *place)
        return self._copies[place]

    def to(self, device: Any) -> HypernetworkPatch:
        """ComfyUI moves patch objects to the compute device; this one follows the tensors it is given."""
        return self


def _copy_to(module: Hypernetwork, device: torch.device, dtype: torch.dtype) -> Hypernetwork:
    return copy.deepcopy(module).to(device, dtype)


def read_hypernetwork(path: str | Path) -> Hypernetwork:
    """A hypernetwork from an A1111 ``.pt`` file or a ``.safetensors`` file (see the module docstring)."""
    path = Path(path)
    data = _read_safetensors(path) if path.suffix.lower() in (".safetensors", ".sft") else _read_pickle(path)
    try:
        return hypernetwork_from_dict(data)
    except HypernetworkError as e:
        raise HypernetworkError(f"{path.name}: {e}") from e


def _read_pickle(path: Path) -> Mapping[Any, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise HypernetworkError(
            f"{path.name}: refused: torch.load(weights_only=True) cannot read it ({e}). A1111 hypernetwork files "
            "hold only tensors, numbers, strings and lists; Atelier never runs other pickled code.") from e
    if not isinstance(data, Mapping):
        raise HypernetworkError(f"{path.name}: holds a {type(data).__name__}, not an A1111 hypernetwork dict")
    return data


def _read_safetensors(path: Path) -> dict[Any, Any]:
    """The ``.pt`` layout rebuilt from flat ``"<width>.<index>.<layer key>"`` tensors and the metadata."""
    data: dict[Any, Any] = {}
    with safe_open(str(path), framework="pt") as file:
        for key, text in (file.metadata() or {}).items():
            data[key] = {"true": True, "false": False}.get(text.lower(), text)
        for key in file.keys():  # noqa: SIM118 - safe_open is not a mapping
            width, index, layer = key.split(".", 2)
            pair = data.setdefault(int(width), [{}, {}])
            pair[int(index)][layer] = file.get_tensor(key)
    return data


def hypernetwork_from_dict(data: Mapping[Any, Any]) -> Hypernetwork:
    """Build the modules from A1111's dict: integer widths to ``[keys state dict, values state dict]``, plus
    ``activation_func``, ``is_layer_norm``, ``activate_output`` (the other entries, such as ``layer_structure``,
    ``use_dropout`` and ``step``, do not change the network at inference)."""
    options = {name: data.get(name, default) for name, default in OPTION_DEFAULTS.items()}
    activation = str(options["activation_func"] or "linear").lower()
    if activation not in ACTIVATIONS:
        raise HypernetworkError(f"unsupported activation function {activation!r}; ComfyUI and Atelier read "
                                f"{', '.join(ACTIVATIONS)}")
    modules = {}
    for key, pair in data.items():
        width = _width(key)
        if width is None:
            continue
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(p, Mapping) for p in pair):
            raise HypernetworkError(f"width {width} holds no pair of state dicts (keys, values)")
        modules[width] = tuple(_mlp(sd, activation, bool(options["is_layer_norm"]), bool(options["activate_output"]))
                               for sd in pair)
    if not modules:
        raise HypernetworkError("no modules: an A1111 hypernetwork maps attention widths (320, 768 ...) to modules")
    return Hypernetwork(modules, activation)  # type: ignore[arg-type]


def _width(key: Any) -> int | None:
    if isinstance(key, int):
        return key
    return int(key) if isinstance(key, str) and key.isdigit() else None


def _layer_names(sd: Mapping[str, torch.Tensor]) -> list[str]:
    """The layers with weights (``linear.0``, ``linear.2`` ... or NovelAI's ``linear1``, ``linear2``), in order."""
    names = [key[: -len(".weight")] for key in sd if key.endswith(".weight")]
    return sorted(names, key=lambda name: [int(n) for n in re.findall(r"\d+", name)])


def _mlp(sd: Mapping[str, torch.Tensor], activation: str, layer_norm: bool, activate_output: bool) -> nn.Sequential:
    names = _layer_names(sd)
    linears = [name for name in names if sd[name + ".weight"].ndim == 2]
    norms = [name for name in names if sd[name + ".weight"].ndim == 1]
    if not linears or len(norms) != (len(linears) if layer_norm else 0):
        raise HypernetworkError(f"{len(linears)} linear and {len(norms)} norm layers do not fit "
                                f"is_layer_norm={layer_norm}")
    layers: list[nn.Module] = []
    for index, name in enumerate(linears):
        weight = sd[name + ".weight"]
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        linear.load_state_dict({"weight": weight, "bias": sd[name + ".bias"]})
        layers.append(linear)
        if activation != "linear" and (index < len(linears) - 1 or activate_output):
            layers.append(ACTIVATIONS[activation]())
        if layer_norm:
            norm_weight = sd[norms[index] + ".weight"]
            norm = nn.LayerNorm(norm_weight.shape[0])
            norm.load_state_dict({"weight": norm_weight, "bias": sd[norms[index] + ".bias"]})
            layers.append(norm)
    return nn.Sequential(*layers).float()
