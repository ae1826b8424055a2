"""ComfyUI's ``comfy_extras.chainner_models.model_loading.load_state_dict``: an upscale model from its weights, as
Atelier's UpscaleModelLoader reads one (``engine.upscale``: ESRGAN-family networks; others are refused by name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def load_state_dict(state_dict: Mapping[str, Any]) -> Any:
    """The UPSCALE_MODEL value for ``state_dict`` (``module.``/``params_ema`` wrappers unwrapped)."""
    from engine.upscale import esrgan_from_state_dict, is_esrgan

    for wrapper in ("params_ema", "params"):
        if isinstance(state_dict.get(wrapper), Mapping):
            state_dict = state_dict[wrapper]
    sd = {key.removeprefix("module."): value for key, value in state_dict.items()}
    if not is_esrgan(sd):
        raise ValueError("not an upscale model Atelier can run: only ESRGAN-family networks (conv_first / model.0 "
                         "tensors: ESRGAN, Real-ESRGAN, 4x-UltraSharp ...) are supported")
    return esrgan_from_state_dict(sd).eval().requires_grad_(False)
