"""A MODEL's sampling options: the plain dict ComfyUI calls ``model_options``, which plug-ins read and write.

Keys the sampler honours (``engine.sampling.guidance`` and ``engine.sampling.ksampler``), with ComfyUI's names and
calling conventions:

- ``sampler_cfg_function``: ``fn(args) -> x - guided`` replacing plain CFG (args: cond, uncond, cond_scale,
  timestep, input, sigma, cond_denoised, uncond_denoised, model, model_options; ``cond``/``uncond`` are
  ``input - denoised``; ``model`` is the MODEL's ``BaseModel`` view, ``model.model``, as in ComfyUI);
- ``sampler_pre_cfg_function``: list of ``fn(args) -> [cond_denoised, uncond_denoised]``;
- ``sampler_post_cfg_function``: list of ``fn(args) -> denoised``;
- ``disable_cfg1_optimization``: run the negative prompt even at CFG 1;
- ``model_function_wrapper``: ``fn(apply_model, {"input", "timestep", "c", "cond_or_uncond"}) -> denoised``;
- ``denoise_mask_function``: ``fn(sigma, denoise_mask, extra_options) -> denoise_mask`` when inpainting
  (``extra_options``: ``model``, the guider with ComfyUI's ``inner_model``/``model_patcher``, and ``sigmas``);
- ``transformer_options["patches"]`` of the kinds in ``UNET_PATCHES`` (the UNet's hook points) and
  ``ATTENTION_PATCHES`` (the transformer blocks' attention patch points, ``engine.sd.attention``);
- ``transformer_options["patches_replace"]`` of the kinds in ``ATTENTION_REPLACES``: attention replacements keyed
  by block, ``(block kind, block id[, index in the transformer])`` as ``add_replace_patch`` writes them. A key that
  names no block of the UNet is never called, as in ComfyUI.

Anything else under ``transformer_options["patches"]`` or ``["patches_replace"]`` (``forward_timestep_embed_patch``,
other models' ``dit`` replacements...) is kept for plug-ins to read back, and sampling a model that carries one
raises ``NotImplementedError``: Atelier's UNet has no hook for it, and ignoring it would silently give another
picture.
"""

from __future__ import annotations

from typing import Any

ModelOptions = dict[str, Any]

UNET_PATCHES = frozenset({"input_block_patch", "input_block_patch_after_skip", "output_block_patch", "emb_patch"})
"""``transformer_options["patches"]`` kinds ``engine.sd.unet.UNetModel.forward`` calls."""

ATTENTION_PATCHES = frozenset({"attn1_patch", "attn2_patch", "attn1_output_patch", "attn2_output_patch",
                               "middle_patch"})
"""``transformer_options["patches"]`` kinds the UNet's transformer blocks call (``engine.sd.attention``)."""

ATTENTION_REPLACES = frozenset({"attn1", "attn2"})
"""``transformer_options["patches_replace"]`` kinds the UNet's transformer blocks call."""

HONOURED_PATCHES = UNET_PATCHES | ATTENTION_PATCHES

SAMPLER_KEYS = frozenset({
    "transformer_options", "sampler_cfg_function", "sampler_pre_cfg_function", "sampler_post_cfg_function",
    "disable_cfg1_optimization", "model_function_wrapper", "denoise_mask_function",
})
"""Top-level keys the sampler honours."""


def new_model_options() -> ModelOptions:
    return {"transformer_options": {}}


def copy_nested(value: Any) -> Any:
    """A copy of nested dicts and lists whose leaves (functions, tensors, patch objects) are shared: a clone can
    add and remove patches without touching its source's (ComfyUI's ``create_model_options_clone``)."""
    if isinstance(value, dict):
        return {key: copy_nested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_nested(item) for item in value]
    return value


def add_patch(options: ModelOptions, kind: str, patch: Any) -> None:
    """Append ``patch`` to ``transformer_options["patches"][kind]`` (ComfyUI's ``set_model_patch``)."""
    patches = options.setdefault("transformer_options", {}).setdefault("patches", {})
    patches[kind] = [*patches.get(kind, []), patch]


def add_replace_patch(options: ModelOptions, kind: str, patch: Any, block_name: str, number: int,
                      transformer_index: int | None = None) -> None:
    """Record a replacement for one attention of one block (ComfyUI's ``set_model_patch_replace``)."""
    block = (block_name, number) if transformer_index is None else (block_name, number, transformer_index)
    replaces = options.setdefault("transformer_options", {}).setdefault("patches_replace", {})
    replaces.setdefault(kind, {})[block] = patch


def add_sampler_function(options: ModelOptions, key: str, function: Any, disable_cfg1_optimization: bool) -> None:
    """Append to the pre- or post-CFG function list ``key``."""
    options[key] = [*options.get(key, []), function]
    if disable_cfg1_optimization:
        options["disable_cfg1_optimization"] = True


def unsupported(options: ModelOptions) -> list[str]:
    """What in ``options`` Atelier's sampler cannot honour, by ComfyUI's names (empty: all of it is honoured)."""
    transformer = options.get("transformer_options", {})
    missing = [f"transformer_options patch {kind!r}" for kind, patches in transformer.get("patches", {}).items()
               if patches and kind not in HONOURED_PATCHES]
    missing += [f"transformer_options replacement {kind!r}" for kind, blocks in
                transformer.get("patches_replace", {}).items() if blocks and kind not in ATTENTION_REPLACES]
    missing += [f"model option {key!r}" for key in options if key not in SAMPLER_KEYS and key.startswith("sampler_")]
    return missing


def refuse(missing: list[str]) -> None:
    """Raise ``NotImplementedError`` naming what Atelier cannot honour (nothing when ``missing`` is empty)."""
    if missing:
        raise NotImplementedError(
            "this MODEL carries patches Atelier's sampler cannot honour: " + ", ".join(missing)
            + " (Atelier's UNet calls only the patches " + ", ".join(sorted(HONOURED_PATCHES))
            + " and the replacements " + ", ".join(sorted(ATTENTION_REPLACES)) + ")")
