"""ComfyUI's ``comfy.comfy_types``: the node typing helpers, and the shapes of a UNet wrapper function's arguments
(``MODEL.set_model_unet_function_wrapper``). Declarations only; importing it needs no torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from .node_typing import IO, CheckLazyMixin, ComfyNodeABC, FileLocator, InputTypeDict

if TYPE_CHECKING:
    import torch


class UnetApplyFunction(Protocol):
    """The model's apply function a UNet wrapper receives: ``apply(x, t, **conds) -> output``."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> torch.Tensor: ...


class UnetApplyConds(TypedDict):
    c_concat: torch.Tensor | None
    c_crossattn: torch.Tensor | None
    control: torch.Tensor | None
    transformer_options: dict | None


class UnetParams(TypedDict):
    input: torch.Tensor  # [B, C, H, W]
    timestep: torch.Tensor  # [B]
    c: UnetApplyConds
    cond_or_uncond: list[int]  # per batch chunk: 0 conditional, 1 unconditional


UnetWrapperFunction = Callable[[UnetApplyFunction, UnetParams], "torch.Tensor"]

__all__ = ["UnetWrapperFunction", "UnetApplyConds", "UnetParams", "UnetApplyFunction", "IO", "InputTypeDict",
           "ComfyNodeABC", "CheckLazyMixin", "FileLocator"]
