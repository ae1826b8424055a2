"""ComfyUI's ``comfy.float``: casting weights to a storage dtype (LoRA patches written back into fp8 weights).

Partial: Atelier's engine rounds to the nearest representable value (torch's cast) where ComfyUI rounds fp8
stochastically; casts to fp32, fp16 and bf16 are the same in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def stochastic_rounding(value: torch.Tensor, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """``value`` cast to ``dtype`` (fp8: rounded to nearest, not stochastically; ``seed`` is unused)."""
    return value.to(dtype=dtype)


def manual_stochastic_round_to_float8(x: torch.Tensor, dtype: torch.dtype, generator: Any = None) -> torch.Tensor:
    raise NotImplementedError("comfy.float.manual_stochastic_round_to_float8: Atelier's engine has no stochastic "
                              "fp8 rounding; stochastic_rounding casts to the nearest value instead")
