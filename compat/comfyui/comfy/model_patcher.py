"""ComfyUI's ``comfy.model_patcher``. ``ModelPatcher`` is Atelier's MODEL class itself
(``engine.sd.model.DiffusionModel``, which answers ModelPatcher's names), so ``isinstance(model, ModelPatcher)``
holds for every MODEL. The model-options helpers are views of ``engine.sd.model_options``.

Partial: a ``ModelPatcher(model, load_device, offload_device)`` cannot be built around another torch module (a
MODEL comes from Atelier's loaders), and hooks, wrappers, callbacks and injections (``comfy.patcher_extension``)
are not run.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "ModelPatcher":
        from engine.sd.model import DiffusionModel

        return DiffusionModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_model_options_clone(orig_model_options: dict) -> dict:
    from engine.sd.model_options import copy_nested

    return copy_nested(orig_model_options)


def set_model_options_patch_replace(model_options: dict, patch: Any, name: str, block_name: str, number: int,
                                    transformer_index: int | None = None) -> dict:
    from engine.sd.model_options import add_replace_patch, copy_nested

    model_options["transformer_options"] = copy_nested(model_options.get("transformer_options", {}))
    add_replace_patch(model_options, name, patch, block_name, number, transformer_index)
    return model_options


def set_model_options_post_cfg_function(model_options: dict, post_cfg_function: Any,
                                        disable_cfg1_optimization: bool = False) -> dict:
    from engine.sd.model_options import add_sampler_function

    add_sampler_function(model_options, "sampler_post_cfg_function", post_cfg_function, disable_cfg1_optimization)
    return model_options


def set_model_options_pre_cfg_function(model_options: dict, pre_cfg_function: Any,
                                       disable_cfg1_optimization: bool = False) -> dict:
    from engine.sd.model_options import add_sampler_function

    add_sampler_function(model_options, "sampler_pre_cfg_function", pre_cfg_function, disable_cfg1_optimization)
    return model_options
