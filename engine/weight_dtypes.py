"""The dtypes a diffusion model's weights may be stored in (ComfyUI's ``weight_dtype`` choices); the names are
plain data, so listing the loader nodes needs no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")


def storage_dtype(name: str) -> torch.dtype | None:
    """The dtype ``name`` stores weights in; None keeps the file's (``fp8_e4m3fn_fast`` stores as ``fp8_e4m3fn``)."""
    import torch

    dtypes = {"default": None, "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
              "fp8_e5m2": torch.float8_e5m2}
    if name not in dtypes:
        raise ValueError(f"unknown weight_dtype {name!r}; use one of {', '.join(WEIGHT_DTYPES)}")
    return dtypes[name]
