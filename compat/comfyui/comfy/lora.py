"""ComfyUI's ``comfy.lora``: LoRA key mapping and weight patches as views of ``engine.lora`` (the reader Atelier's
LoraLoader uses) and ``engine.sd.weight_patches``.

``load_lora(lora, to_load)`` gives ``{target key: patch}`` for ``ModelPatcher.add_patches``/``CLIP.add_patches``:
LoRA, LoCon, LoHa and LoKr updates are ``engine.lora.WeightUpdate`` objects (ComfyUI's weight adapters), full
diffs ``("diff", (tensor,))``, ``.set_weight`` tensors ``("set", (tensor,))``. DoRA scales and ``w_norm``/``b_norm``
tensors are not read (Atelier's LoRA reader has no DoRA), and are reported as keys not loaded.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def load_lora(lora: dict, to_load: dict[str, str], log_missing: bool = True) -> dict[str, Any]:
    """Patches for each LoRA module name in ``to_load`` (name -> the model key it patches)."""
    from engine.lora import read_update

    patches: dict[str, Any] = {}
    used: set[str] = set()
    for prefix, target in to_load.items():
        update = read_update(lora, prefix, used)
        if update is not None:
            patches[target] = ("diff", (update.tensors["diff"],)) if update.kind == "diff" else update
        bias = lora.get(prefix + ".diff_b")
        if bias is not None:
            used.add(prefix + ".diff_b")
            patches[target[: -len(".weight")] + ".bias"] = ("diff", (bias,))
        set_weight = lora.get(prefix + ".set_weight")
        if set_weight is not None:
            used.add(prefix + ".set_weight")
            patches[target] = ("set", (set_weight,))
    if log_missing:
        for key in lora:
            if key not in used:
                log.warning("lora key not loaded: %s", key)
    return patches


def model_lora_keys_unet(model: Any, key_map: dict | None = None) -> dict[str, str]:
    """LoRA module names (kohya, diffusers, LDM, PEFT) -> "diffusion_model.<UNet key>" for a MODEL (or its
    ``model``)."""
    from engine.lora import model_key_map

    owner = getattr(model, "_owner", model)
    key_map = {} if key_map is None else key_map
    for name, (_, key) in model_key_map(owner, None).items():
        key_map[name] = "diffusion_model." + key
    return key_map


def model_lora_keys_clip(model: Any, key_map: dict | None = None) -> dict[str, str]:
    """LoRA module names -> the CLIP's weight names as its ``add_patches`` takes them (ComfyUI's
    ``clip_l.transformer...`` names where the CLIP value has them)."""
    from engine.lora import model_key_map

    key_map = {} if key_map is None else key_map
    comfy_names = getattr(model, "comfy_weight_names", None)
    by_internal = {internal: comfy for comfy, internal in comfy_names().items()} if comfy_names else {}
    for name, (_, key) in model_key_map(None, model).items():
        key_map[name] = by_internal.get(key, key)
    return key_map


def calculate_weight(patches: list, weight: Any, key: str, intermediate_dtype: Any = None,
                     original_weights: Any = None) -> Any:
    """``weight`` with ComfyUI patch entries applied (``engine.sd.weight_patches.apply_entries``)."""
    from engine.sd.weight_patches import apply_entries

    return apply_entries(list(patches), weight, key)
