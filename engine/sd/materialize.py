"""Build modules without allocating weights, attach loaded tensors, and make compute-ready copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def build_with_weights(factory: Callable[[], M], sd: Mapping[str, torch.Tensor]) -> M:
    """Construct on the meta device (no allocation) and adopt ``sd``'s tensors as they are (no copy)."""
    with torch.device("meta"):
        module = factory()
    module.load_state_dict(dict(sd), strict=True, assign=True)
    return module.eval().requires_grad_(False)


def is_on(module: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    return all(p.device.type == device.type and p.dtype == dtype for p in module.parameters())


def compute_copy(module: M, device: torch.device, dtype: torch.dtype) -> M:
    """``module`` itself when already on ``device`` in ``dtype``; else a converted copy (original kept).

    The module's class must be constructible from its ``config`` attribute.
    """
    if is_on(module, device, dtype):
        return module
    converted = {k: v.to(device=device, dtype=dtype) for k, v in module.state_dict().items()}
    config = module.config  # type: ignore[attr-defined]
    copy = build_with_weights(lambda: type(module)(config), converted)
    _copy_non_persistent_buffers(module, copy, device, dtype)
    return copy


def shared_compute_copy(module: M, devices: Any, shared: dict[str, Any]) -> M:
    """``module`` ready to run where and in which dtype ``devices`` (``engine.device.Devices``) says, kept in
    ``shared["compute"]``: the dict clones share, so the converted copy is made once for all of them."""
    device = devices.compute_device()
    dtype = devices.compute_dtype(next(module.parameters()).dtype, device)
    compute = shared.get("compute")
    if compute is None or not is_on(compute, device, dtype):
        compute = shared["compute"] = compute_copy(module, device, dtype)
    return compute


def _copy_non_persistent_buffers(source: nn.Module, target: nn.Module, device: torch.device,
                                 dtype: torch.dtype) -> None:
    """Buffers outside the state dict (CLIP's ``position_ids``) would otherwise stay on the meta device, where
    they hold no data: the copy would read uninitialised memory."""
    persistent = set(source.state_dict())
    for name, buffer in source.named_buffers():
        if name in persistent:
            continue
        owner, _, leaf = name.rpartition(".")
        value = buffer.to(device=device, dtype=dtype if buffer.is_floating_point() else buffer.dtype)
        target.get_submodule(owner).register_buffer(leaf, value, persistent=False)
    left_on_meta = [name for name, tensor in [*target.named_parameters(), *target.named_buffers()] if tensor.is_meta]
    if left_on_meta:
        raise RuntimeError(f"compute copy left tensors without data: {', '.join(left_on_meta[:5])}")
