"""ComfyUI's ``comfy.ops``: torch layers that skip weight initialisation (``disable_weight_init``), and that cast
their weights to the input's dtype and device when they run (``manual_cast``).

Plug-ins (GGUF loaders, custom model code) subclass these to build modules whose weights come from a file. Atelier's
own models are built on the meta device and adopt their weights (``engine.sd.materialize``), so this is the one
place these layers live; they are plain torch and need nothing of the runtime.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def cast_to(weight: torch.Tensor, dtype: torch.dtype | None = None, device: Any = None, non_blocking: bool = False,
            copy: bool = False, stream: Any = None) -> torch.Tensor:
    """``weight`` in ``dtype`` on ``device`` (a new tensor when ``copy``)."""
    return weight.to(device=device, dtype=dtype, non_blocking=non_blocking, copy=copy)


def cast_to_input(weight: torch.Tensor, input: torch.Tensor, non_blocking: bool = False,
                  copy: bool = True) -> torch.Tensor:
    return cast_to(weight, input.dtype, input.device, non_blocking=non_blocking, copy=copy)


def cast_bias_weight(s: torch.nn.Module, input: torch.Tensor | None = None, dtype: torch.dtype | None = None,
                     device: Any = None, bias_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, Any]:
    """(weight, bias) of layer ``s`` cast to the input's dtype and device, with the layer's ``weight_function`` and
    ``bias_function`` applied (ComfyUI's hooks for patching weights on the fly)."""
    if input is not None:
        dtype = dtype or input.dtype
        bias_dtype = bias_dtype or dtype
        device = device or input.device
    bias = None
    if s.bias is not None:
        bias = cast_to(s.bias, bias_dtype, device, copy=bool(s.bias_function))
        for function in s.bias_function:
            bias = function(bias)
    weight = cast_to(s.weight, dtype, device, copy=bool(s.weight_function))
    for function in s.weight_function:
        weight = function(weight)
    return weight, bias


def uncast_bias_weight(s: torch.nn.Module, weight: Any, bias: Any, offload_stream: Any = None) -> None:
    """Newer ComfyUI's release of cast weights; nothing to release here (casts are ordinary tensors)."""


class CastWeightBiasOp:
    """Whether a layer casts its weights when it runs, and the functions applied to them."""

    comfy_cast_weights = False
    weight_function: list = []
    bias_function: list = []


class _CastLayer(CastWeightBiasOp):
    """``forward`` runs the plain torch layer unless the layer casts or has weight functions."""

    def reset_parameters(self) -> None:
        return None  # weights come from a file: initialising them is wasted work

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.comfy_cast_weights or self.weight_function or self.bias_function:
            return self.forward_comfy_cast_weights(*args, **kwargs)
        return super().forward(*args, **kwargs)  # type: ignore[misc]

    def forward_comfy_cast_weights(self, input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        weight, bias = cast_bias_weight(self, input)  # type: ignore[arg-type]
        return self.run_with(input, weight, bias, *args, **kwargs)

    def run_with(self, input: torch.Tensor, weight: torch.Tensor, bias: Any, *args: Any, **kwargs: Any
                 ) -> torch.Tensor:
        raise NotImplementedError


class _Conv(_CastLayer):
    def run_with(self, input: torch.Tensor, weight: torch.Tensor, bias: Any, *args: Any, **kwargs: Any
                 ) -> torch.Tensor:
        return self._conv_forward(input, weight, bias)  # type: ignore[attr-defined]


class _ConvTranspose(_CastLayer):
    def run_with(self, input: torch.Tensor, weight: torch.Tensor, bias: Any, output_size: Any = None,
                 **kwargs: Any) -> torch.Tensor:
        dims = len(self.kernel_size)  # type: ignore[attr-defined]
        padding = self._output_padding(input, output_size, self.stride, self.padding,  # type: ignore[attr-defined]
                                       self.kernel_size, dims, self.dilation)  # type: ignore[attr-defined]
        run = F.conv_transpose2d if dims == 2 else F.conv_transpose1d
        return run(input, weight, bias, self.stride, self.padding, padding, self.groups,  # type: ignore[attr-defined]
                   self.dilation)  # type: ignore[attr-defined]


class disable_weight_init:  # noqa: N801 (ComfyUI's name)
    """Torch layers without weight initialisation."""

    class Linear(_CastLayer, torch.nn.Linear):
        def run_with(self, input: torch.Tensor, weight: torch.Tensor, bias: Any, *args: Any, **kwargs: Any
                     ) -> torch.Tensor:
            return F.linear(input, weight, bias)

    class Conv1d(_Conv, torch.nn.Conv1d):
        pass

    class Conv2d(_Conv, torch.nn.Conv2d):
        pass

    class Conv3d(_Conv, torch.nn.Conv3d):
        pass

    class ConvTranspose1d(_ConvTranspose, torch.nn.ConvTranspose1d):
        pass

    class ConvTranspose2d(_ConvTranspose, torch.nn.ConvTranspose2d):
        pass

    class GroupNorm(_CastLayer, torch.nn.GroupNorm):
        def run_with(self, input: torch.Tensor, weight: torch.Tensor, bias: Any, *args: Any, **kwargs: Any
                     ) -> torch.Tensor:
            return F.group_norm(input, self.num_groups, weight, bias, self.eps)

    class LayerNorm(_CastLayer, torch.nn.LayerNorm):
        def forward_comfy_cast_weights(self, input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            weight, bias = cast_bias_weight(self, input) if self.weight is not None else (None, None)
            return F.layer_norm(input, self.normalized_shape, weight, bias, self.eps)

    class Embedding(_CastLayer, torch.nn.Embedding):
        def forward_comfy_cast_weights(self, input: torch.Tensor, out_dtype: torch.dtype | None = None
                                       ) -> torch.Tensor:
            # Indices are integers: the weight keeps its own dtype (or ``out_dtype``) and moves to their device.
            weight = cast_to(self.weight, None, input.device)
            for function in self.weight_function:
                weight = function(weight)
            out = F.embedding(input, weight, self.padding_idx, self.max_norm, self.norm_type,
                              self.scale_grad_by_freq, self.sparse)
            return out if out_dtype is None else out.to(out_dtype)

    @classmethod
    def conv_nd(cls, dims: int, *args: Any, **kwargs: Any) -> torch.nn.Module:
        layers = {1: cls.Conv1d, 2: cls.Conv2d, 3: cls.Conv3d}
        if dims not in layers:
            raise ValueError(f"unsupported dimensions: {dims}")
        return layers[dims](*args, **kwargs)


class manual_cast(disable_weight_init):  # noqa: N801 (ComfyUI's name)
    """The same layers, casting their weights to the input's dtype and device each time they run."""

    class Linear(disable_weight_init.Linear):
        comfy_cast_weights = True

    class Conv1d(disable_weight_init.Conv1d):
        comfy_cast_weights = True

    class Conv2d(disable_weight_init.Conv2d):
        comfy_cast_weights = True

    class Conv3d(disable_weight_init.Conv3d):
        comfy_cast_weights = True

    class ConvTranspose1d(disable_weight_init.ConvTranspose1d):
        comfy_cast_weights = True

    class ConvTranspose2d(disable_weight_init.ConvTranspose2d):
        comfy_cast_weights = True

    class GroupNorm(disable_weight_init.GroupNorm):
        comfy_cast_weights = True

    class LayerNorm(disable_weight_init.LayerNorm):
        comfy_cast_weights = True

    class Embedding(disable_weight_init.Embedding):
        comfy_cast_weights = True


def pick_operations(weight_dtype: torch.dtype | None, compute_dtype: torch.dtype | None, load_device: Any = None,
                    disable_fast_fp8: bool = False, fp8_optimizations: bool = False, scaled_fp8: Any = None) -> type:
    """``disable_weight_init`` when weights compute in their own dtype, else ``manual_cast`` (Atelier has no fp8
    matrix-multiplication or cuBLAS layers)."""
    if scaled_fp8 is not None:
        raise NotImplementedError("scaled fp8 layers are not supported by Atelier")
    if compute_dtype is None or weight_dtype == compute_dtype:
        return disable_weight_init
    return manual_cast
