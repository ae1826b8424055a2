"""Read a weights file into a flat ``{key: tensor}`` dict, safely (safetensors, or torch.load weights-only), in the
file's dtypes or converted as read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch

from engine.sd.safetensors_file import DtypeFor, read_safetensors

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


class WeightsFileError(ValueError):
    """A weights file that cannot be read; the message names the file."""


WRAPPERS = ("state_dict", "params_ema", "params")


def load_state_dict(path: str | Path, dtype_for: DtypeFor | None = None) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` / ``.sft`` or ``.ckpt``/``.pt``/``.pth``/``.bin`` file, in file dtype or,
    given ``dtype_for(key, file dtype)``, each converted to the dtype it names.

    Without ``dtype_for`` safetensors files are memory-mapped; with it they are read one tensor at a time, so that
    only the converted tensors stay resident (models read this way hold no reference to the file). Pickle-based
    files are read with ``weights_only=True`` (no code runs) and memory-mapped; a top-level wrapper is unwrapped:
    ``state_dict`` (LDM training checkpoints), ``params_ema`` or ``params`` (BasicSR's, e.g. Real-ESRGAN).
    """
    path = Path(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        try:
            if dtype_for is not None:
                return read_safetensors(path, dtype_for)
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
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if dtype_for is None:
        return tensors
    return {k: v.to(dtype_for(k, v.dtype)) for k, v in tensors.items()}


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
