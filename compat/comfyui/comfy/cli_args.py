"""ComfyUI's ``comfy.cli_args``: ``args`` with ComfyUI's option names, answered from the bound runtime's settings
where Atelier has the same option (``cpu``, the folders, ``max_upload_size``...) and ComfyUI's defaults elsewhere.

``args`` is a view: each read asks the runtime, so it follows the server that is running. A plug-in that sets an
attribute (some do, to change a default) keeps its value on the runtime's compat extras, not in this module.
"""

from __future__ import annotations

import copy
import enum
from typing import Any


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"


class PerformanceFeature(enum.Enum):
    Fp16Accumulation = "fp16_accumulation"
    Fp8MatrixMultiplication = "fp8_matrix_mult"
    CublasOps = "cublas_ops"
    AutoTune = "autotune"


class LogLevel(enum.Enum):  # ComfyUI passes --verbose a level name
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


# ComfyUI's defaults for the options Atelier has no counterpart for (its memory, attention and precision switches
# are Atelier's device policy's choice).
COMFY_DEFAULTS: dict[str, Any] = {
    "listen": "127.0.0.1", "port": 8188, "tls_keyfile": None, "tls_certfile": None, "enable_cors_header": None,
    "max_upload_size": 100, "base_directory": None, "extra_model_paths_config": None, "output_directory": None,
    "temp_directory": None, "input_directory": None, "user_directory": None, "auto_launch": False,
    "disable_auto_launch": False, "cuda_device": None, "default_device": None, "cuda_malloc": False,
    "disable_cuda_malloc": False, "force_fp32": False, "force_fp16": False, "fp32_unet": False, "fp64_unet": False,
    "bf16_unet": False, "fp16_unet": False, "fp8_e4m3fn_unet": False, "fp8_e5m2_unet": False,
    "fp8_e8m0fnu_unet": False, "fp16_vae": False, "fp32_vae": False, "bf16_vae": False, "cpu_vae": False,
    "fp8_e4m3fn_text_enc": False, "fp8_e5m2_text_enc": False, "fp16_text_enc": False, "fp32_text_enc": False,
    "bf16_text_enc": False, "force_channels_last": False, "directml": None, "oneapi_device_selector": None,
    "disable_ipex_optimize": False, "supports_fp8_compute": False, "preview_method": LatentPreviewMethod.NoPreviews,
    "preview_size": 512, "cache_classic": False, "cache_lru": 0, "cache_none": False,
    "use_split_cross_attention": False, "use_quad_cross_attention": False, "use_pytorch_cross_attention": False,
    "use_sage_attention": False, "use_flash_attention": False, "disable_xformers": False,
    "force_upcast_attention": False, "dont_upcast_attention": False, "gpu_only": False, "highvram": False,
    "normalvram": False, "lowvram": False, "novram": False, "cpu": False, "reserve_vram": None,
    "async_offload": False, "force_non_blocking": False, "default_hashing_function": "sha256",
    "disable_smart_memory": False, "deterministic": False, "fast": set(), "mmap_torch_files": False,
    "disable_mmap": False, "dont_print_server": False, "quick_test_for_ci": False, "windows_standalone_build": False,
    "disable_metadata": False, "disable_all_custom_nodes": False, "whitelist_custom_nodes": [],
    "disable_api_nodes": False, "multi_user": False, "verbose": "INFO", "log_stdout": False,
    "front_end_version": "comfyanonymous/ComfyUI@latest", "front_end_root": None,
    "comfy_api_base": "https://api.comfy.org", "database_url": None, "enable_compress_response_body": False,
}


def _from_runtime() -> dict[str, Any]:
    """The options Atelier has too, from the bound runtime (nothing when no runtime is bound)."""
    from compat.host import NotBound, host

    try:
        bound = host()
    except NotBound:
        return {}
    settings, folders = bound.runtime.settings, bound.runtime.folders
    return {
        "cpu": settings.cpu_only,
        "max_upload_size": settings.max_upload_bytes / (1 << 20),
        "output_directory": str(folders.output_dir), "input_directory": str(folders.input_dir),
        "temp_directory": str(folders.temp_dir), "user_directory": str(folders.user_dir),
        "base_directory": str(folders.models_dir.parent),
        "database_url": f"sqlite:///{folders.user_dir / 'atelier.sqlite3'}",
        **bound.extras.get("cli_args.set", {}),
    }


class Args:
    """ComfyUI's parsed ``args`` namespace as a view of the running server's settings."""

    def __getattr__(self, name: str) -> Any:
        values = _from_runtime()
        if name in values:
            return values[name]
        if name in COMFY_DEFAULTS:
            return copy.copy(COMFY_DEFAULTS[name])  # a plug-in adding to args.fast must not change the defaults
        raise AttributeError(f"ComfyUI's args has no option {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        from compat.host import host

        host().extras.setdefault("cli_args.set", {})[name] = value

    def __contains__(self, name: str) -> bool:
        return name in COMFY_DEFAULTS

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]  # so vars(args) lists every option
        return {**COMFY_DEFAULTS, **_from_runtime()}

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


args = Args()


def enables_dynamic_vram() -> bool:
    """ComfyUI's switch for its dynamic VRAM mode; Atelier's model cache manages memory itself."""
    return False
