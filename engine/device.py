"""Where the engine computes, and in which dtype: a ``Devices`` policy, which engine objects carry.

The composition root builds one policy from the settings (``--cpu``) and hands it to everything that loads a
model, so two runtimes (or two tests) with different policies can live in one process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), as Linux reports them."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Devices:
    """``cpu_only``: run every model on the CPU even when an accelerator is present (``--cpu``). ``cpu_bf16``: run
    half-precision models on the CPU in bf16 (True), fp32 (False), or by CPU support (None)."""

    cpu_only: bool = False
    cpu_bf16: bool | None = None

    def compute_device(self) -> torch.device:
        """The device models run on: the first CUDA GPU unless ``cpu_only``, else the CPU."""
        import torch

        if not self.cpu_only and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")

    def offload_device(self) -> torch.device:
        """Where idle weights live."""
        import torch

        return torch.device("cpu")

    def cpu_bf16_enabled(self) -> bool:
        """Whether half-precision models run in bf16 on the CPU."""
        return cpu_has_native_bf16() if self.cpu_bf16 is None else self.cpu_bf16

    def compute_dtype(self, weight_dtype: torch.dtype, device: torch.device | None = None) -> torch.dtype:
        """The dtype to run a model stored in ``weight_dtype`` on ``device`` (default: the compute device).

        fp16 matmuls on a CPU are emulated and slow, so half-precision files run there in bf16 when the CPU has
        native bf16 instructions (measured on a 2-core AVX512-BF16 CPU: SD1.5 UNet 2.3x faster than fp32, eps
        within ~1.2% RMS of fp32) and in float32 otherwise; fp32 files stay fp32. On a GPU they run as stored.
        """
        import torch

        device = device or self.compute_device()
        if weight_dtype in (torch.float8_e4m3fn, torch.float8_e5m2):  # fp8 storage (UNETLoader) computes in 16 bits
            weight_dtype = torch.bfloat16
        if device.type == "cpu" and weight_dtype in (torch.float16, torch.bfloat16):
            return torch.bfloat16 if self.cpu_bf16_enabled() else torch.float32
        return weight_dtype


AUTO = Devices()  # the accelerator when there is one; bf16 on CPUs that have it
