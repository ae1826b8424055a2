"""Read a weights file into a flat ``{key: tensor}`` dict, safely (safetensors, or torch.load weights-only)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


class WeightsFileError(ValueError):
    """A weights file that cannot be read; the message names the file."""


WRAPPERS = ("state_dict", "params_ema", "params")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` / ``.sft`` or ``.ckpt``/``.pt``/``.pth``/``.bin`` file, in file dtype.

    Pickle-based files are read with ``weights_only=True`` (no code runs) and memory-mapped; a top-level
    wrapper is unwrapped: ``state_dict`` (LDM training checkpoints), ``params_ema`` or ``params`` (BasicSR's, e.g.
    Real-ESRGAN).
    """
    path = Path(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        try:
            return safetensors.torch.load_file(str(path))
        except Exception as e:  # safetensors raises its own untyped errors for truncated/corrupt files
            raise WeightsFileError(f"{path}: not a readable safetensors file ({e})") from e
    data = _torch_load(path)
    for wrapper in WRAPPERS:
        if isinstance(data, Mapping) and isinstance(data.get(wrapper), Mapping):
            data = data[wrapper]
            break
    if not isinstance(data, Mapping):
        raise WeightsFileError(f"{path}: holds a {type(data).__name__}, not a dict of tensors")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        pass  # legacy (pre-zip) files cannot be memory-mapped; try once more without
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsFileError(f"{path}: cannot be read as a weights-only torch file ({e})") from e


def with_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries whose key starts with ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}


def has_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in sd)
