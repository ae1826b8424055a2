"""Where the engine computes, and in which dtype."""

from __future__ import annotations

import torch

_force_cpu = False


def force_cpu(enabled: bool = True) -> None:
    """Make every model run on the CPU even when an accelerator is present (``--cpu``)."""
    global _force_cpu
    _force_cpu = enabled


def compute_device() -> torch.device:
    """The device models run on: the first CUDA GPU unless ``--cpu``, else the CPU."""
    if not _force_cpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def offload_device() -> torch.device:
    """Where idle weights live."""
    return torch.device("cpu")


def compute_dtype(weight_dtype: torch.dtype, device: torch.device | None = None) -> torch.dtype:
    """The dtype to run a model stored in ``weight_dtype`` on ``device``.

    fp16 matmuls on a CPU are emulated and slow, so half-precision files run in float32 there; on a GPU
    they run as stored.
    """
    device = device or compute_device()
    if device.type == "cpu" and weight_dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return weight_dtype
