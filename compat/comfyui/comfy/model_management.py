"""ComfyUI's ``comfy.model_management``: devices, dtypes, memory and interrupts, as views of Atelier's runtime.

Devices and dtypes come from the device policy (``engine.device.Devices``) of the running node's context, or of
the bound runtime; the interrupt is the runtime's ``InterruptFlag`` and ``InterruptProcessingException`` is
``core.context.Interrupted``, so a plug-in's interruption ends the prompt as ``execution_interrupted``.

Atelier's engine objects move their weights to the compute device themselves when they run, and the runtime's
model cache owns loaded weights: ``load_models_gpu`` has nothing to do and ``loaded_models`` lists nothing (partial
stand-ins), and unloading models is a request the worker carries out between prompts, as ``POST /free`` is.
Attributes that need torch (``OOM_EXCEPTION``, ``vram_state``, ``total_vram``...) are computed when read, so
importing this module stays cheap.
"""

from __future__ import annotations

import gc
import os
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any

from comfy.cli_args import args as args  # ComfyUI re-exports it here
from core.context import Interrupted, current_context

if TYPE_CHECKING:
    import torch

    from engine.device import Devices
    from runtime import Runtime


class VRAMState(Enum):
    DISABLED = 0  # no accelerator: models stay on the CPU
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


class CPUState(Enum):
    GPU = 0
    CPU = 1
    MPS = 2


InterruptProcessingException = Interrupted  # the executor reports it as an interruption, not an error
XFORMERS_IS_AVAILABLE = False
XFORMERS_ENABLED_VAE = False
XFORMERS_VERSION = ""
ENABLE_PYTORCH_ATTENTION = True
DISABLE_SMART_MEMORY = False
directml_enabled = False
xpu_available = False
lowvram_available = False
in_training = False


def _runtime() -> Runtime:
    from compat.host import runtime

    return runtime()


def _devices() -> Devices:
    """The running node's device policy, else the bound runtime's."""
    context = current_context()
    return context.devices if context is not None else _runtime().devices


def __getattr__(name: str) -> Any:
    """Module attributes that need torch or the runtime, computed when read."""
    import torch

    if name == "OOM_EXCEPTION":
        return torch.cuda.OutOfMemoryError
    if name == "vram_state" or name == "set_vram_to":
        return VRAMState.DISABLED if get_torch_device().type == "cpu" else VRAMState.NORMAL_VRAM
    if name == "cpu_state":
        return CPUState.CPU if cpu_mode() else CPUState.GPU
    if name == "total_vram":
        return get_total_memory(get_torch_device()) / (1024 * 1024)
    if name == "total_ram":
        return get_total_memory(torch.device("cpu")) / (1024 * 1024)
    if name == "torch_version":
        return torch.version.__version__
    if name == "current_loaded_models":
        return []
    raise AttributeError(f"module 'comfy.model_management' has no attribute {name!r}")


# Devices


def get_torch_device() -> torch.device:
    """The device models compute on (``--cpu``: the CPU)."""
    return _devices().compute_device()


def unet_offload_device() -> torch.device:
    return _devices().offload_device()


def unet_inital_load_device(parameters: int, dtype: torch.dtype) -> torch.device:
    """Where Atelier reads weights: the offload device (the CPU); they move to the compute device to run."""
    return _devices().offload_device()


def text_encoder_device() -> torch.device:
    return _devices().compute_device()


def text_encoder_offload_device() -> torch.device:
    return _devices().offload_device()


def vae_device() -> torch.device:
    return _devices().compute_device()


def vae_offload_device() -> torch.device:
    return _devices().offload_device()


def intermediate_device() -> torch.device:
    """Where IMAGE, MASK and LATENT values live between nodes: the CPU."""
    import torch

    return torch.device("cpu")


def get_torch_device_name(device: Any) -> str:
    import torch

    if getattr(device, "type", None) == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)} : native"
    return str(getattr(device, "type", device))


def is_device_type(device: Any, type: str) -> bool:
    return getattr(device, "type", None) == type


def is_device_cpu(device: Any) -> bool:
    return is_device_type(device, "cpu")


def is_device_mps(device: Any) -> bool:
    return is_device_type(device, "mps")


def is_device_xpu(device: Any) -> bool:
    return is_device_type(device, "xpu")


def is_device_cuda(device: Any) -> bool:
    return is_device_type(device, "cuda")


def is_intel_xpu() -> bool:
    return False  # Atelier's device policy knows CUDA and the CPU


def is_ascend_npu() -> bool:
    return False


def is_mlu() -> bool:
    return False


def is_directml_enabled() -> bool:
    return False


def is_nvidia() -> bool:
    import torch

    return get_torch_device().type == "cuda" and torch.version.cuda is not None


def is_amd() -> bool:
    import torch

    return get_torch_device().type == "cuda" and torch.version.hip is not None


def cpu_mode() -> bool:
    return get_torch_device().type == "cpu"


def mps_mode() -> bool:
    return False


def get_autocast_device(dev: Any) -> str:
    return getattr(dev, "type", "cuda")


def device_supports_non_blocking(device: Any) -> bool:
    return not is_device_mps(device)


def device_should_use_non_blocking(device: Any) -> bool:
    return False


def xformers_enabled() -> bool:
    return False


def xformers_enabled_vae() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True  # Atelier's attention is torch's scaled_dot_product_attention


def pytorch_attention_enabled_vae() -> bool:
    return True


# Dtypes


def _compute_dtype(weight_dtype: torch.dtype, device: Any = None) -> torch.dtype:
    return _devices().compute_dtype(weight_dtype, device)


def dtype_size(dtype: torch.dtype) -> int:
    import torch

    return torch.empty((), dtype=dtype).element_size() if dtype is not None else 4


def unet_dtype(device: Any = None, model_params: int = 0, supported_dtypes: list | None = None,
               weight_dtype: torch.dtype | None = None) -> torch.dtype:
    """The dtype a UNet computes in on ``device``: Atelier's rule for a half-precision file (or ``weight_dtype``),
    else float32 when the model does not support that dtype."""
    import torch

    dtype = _compute_dtype(weight_dtype or torch.float16, device)
    if supported_dtypes is not None and dtype not in supported_dtypes:
        return torch.float32
    return dtype


def unet_manual_cast(weight_dtype: torch.dtype, inference_device: Any, supported_dtypes: list | None = None
                     ) -> torch.dtype | None:
    """The dtype to compute in when it is not the weights' own, else None."""
    dtype = _compute_dtype(weight_dtype, inference_device)
    return None if dtype == weight_dtype else dtype


def text_encoder_dtype(device: Any = None) -> torch.dtype:
    import torch

    return _compute_dtype(torch.float16, device)


def vae_dtype(device: Any = None, allowed_dtypes: list | None = None) -> torch.dtype:
    """The dtype a half-precision VAE decodes in (never fp16: the SD VAE overflows)."""
    import torch

    from engine.sd.vae import vae_compute_dtype

    dtype = vae_compute_dtype(torch.float16, device or get_torch_device(), _devices())
    if allowed_dtypes and dtype not in allowed_dtypes:
        return torch.float32
    return dtype


def intermediate_dtype() -> torch.dtype:
    import torch

    return torch.float32


def should_use_fp16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    import torch

    return _compute_dtype(torch.float16, device) == torch.float16


def should_use_bf16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    import torch

    device = device or get_torch_device()
    if device.type == "cpu":
        return _devices().cpu_bf16_enabled()
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def supports_dtype(device: Any, dtype: torch.dtype) -> bool:
    import torch

    if dtype == torch.float32:
        return True
    return not is_device_cpu(device) and dtype in (torch.float16, torch.bfloat16)


def supports_cast(device: Any, dtype: torch.dtype) -> bool:
    import torch

    if dtype in (torch.float32, torch.float16):
        return True
    if is_device_mps(device):
        return False
    return dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2)


def pick_weight_dtype(dtype: torch.dtype | None, fallback_dtype: torch.dtype, device: Any = None) -> torch.dtype:
    """``dtype`` unless it is missing, wider than ``fallback_dtype`` or cannot be cast to on ``device``."""
    if dtype is None or dtype_size(dtype) > dtype_size(fallback_dtype) or not supports_cast(device, dtype):
        return fallback_dtype
    return dtype


def supports_fp8_compute(device: Any = None) -> bool:
    return False  # Atelier computes fp8-stored weights in 16 bits


def cast_to(weight: torch.Tensor, dtype: torch.dtype | None = None, device: Any = None, non_blocking: bool = False,
            copy: bool = False, stream: Any = None) -> torch.Tensor:
    """``weight`` in ``dtype`` on ``device`` (the same tensor when nothing changes and no copy is asked for)."""
    if device is None or weight.device == device:
        if not copy and (dtype is None or weight.dtype == dtype):
            return weight
        return weight.to(dtype=dtype, copy=copy)
    return weight.to(device=device, dtype=dtype, non_blocking=non_blocking, copy=copy)


def cast_to_device(tensor: torch.Tensor, device: Any, dtype: torch.dtype | None, copy: bool = False
                   ) -> torch.Tensor:
    return cast_to(tensor, dtype=dtype, device=device, non_blocking=device_supports_non_blocking(device), copy=copy)


# Memory


def module_size(module: torch.nn.Module) -> int:
    """Bytes held by a module's parameters and buffers."""
    from engine.sd.memory import module_bytes

    return module_bytes(module)


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> int | tuple[int, int]:
    """Bytes free on ``dev`` (default: the compute device); with ``torch_free_too`` also the bytes torch has
    reserved but not allocated there."""
    import torch

    from engine.sd.memory import free_memory_bytes

    device = dev or get_torch_device()
    free = free_memory_bytes(device)
    if not torch_free_too:
        return free
    cached = 0
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return free + cached, cached


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> int | tuple[int, int]:
    """Bytes of memory on ``dev`` (default: the compute device)."""
    import torch

    device = dev or get_torch_device()
    if device.type == "cuda":
        total = torch.cuda.mem_get_info(device)[1]
        reserved = torch.cuda.memory_reserved(device)
    else:
        total = reserved = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (total, reserved) if torch_total_too else total


def minimum_inference_memory() -> int:
    return int(1.2 * 1024**3)  # ComfyUI's reserve: 0.8 GiB plus its extra reserve


def load_models_gpu(models: list, memory_required: int = 0, force_patch_weights: bool = False,
                    minimum_memory_required: int | None = None, force_full_load: bool = False) -> None:
    """Nothing to do: Atelier's models move to the compute device themselves when they run."""
    return None


def load_model_gpu(model: Any) -> None:
    return load_models_gpu([model])


def loaded_models(only_currently_used: bool = False) -> list:
    """Atelier does not track which models sit on the accelerator: always empty."""
    return []


def free_memory(memory_required: float, device: Any, keep_loaded: list | None = None) -> list:
    """Let the model cache drop least recently used models until ``memory_required`` bytes are free where idle
    weights live (models a running node holds stay alive); then the accelerator's cache is emptied."""
    _runtime().models.evict_until(int(min(memory_required, sys.maxsize)))
    soft_empty_cache()
    return []


def unload_all_models() -> None:
    """Ask the runtime to unload every model, as ``POST /free`` does: carried out between prompts."""
    _runtime().request_free(unload_models=True, free_memory=False)


def cleanup_models() -> None:
    """Nothing to clean up: the model cache holds only models it can still serve."""


def cleanup_models_gc() -> None:
    gc.collect()


def soft_empty_cache(force: bool = False) -> None:
    """Return the accelerator's unused cached memory to the driver."""
    torch = sys.modules.get("torch")  # nothing to empty if nothing has loaded torch
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def raise_non_oom(error: BaseException) -> None:
    """Re-raise ``error`` unless it is an out-of-memory error."""
    import torch

    if not isinstance(error, torch.cuda.OutOfMemoryError):
        raise error


# Interrupts


def interrupt_current_processing(value: bool = True) -> None:
    """Set (or clear) the runtime's interrupt flag, as ``POST /interrupt`` does."""
    flag = _runtime().interrupt
    flag.set() if value else flag.clear()


def processing_interrupted() -> bool:
    context = current_context()
    return (context.interrupt if context is not None else _runtime().interrupt).is_set()


def throw_exception_if_processing_interrupted() -> None:
    """Raise ``InterruptProcessingException`` (``core.context.Interrupted``) when the user interrupted."""
    if processing_interrupted():
        raise InterruptProcessingException()
