"""ComfyUI's ``comfy.patcher_extension``: the names of its wrapper and callback slots, for packs that import them.

Partial stand-in: Atelier's MODEL does not run ComfyUI's wrappers, callbacks or injections (its sampler has no such
slots); the constants, ``PatcherInjection`` and the dict helpers exist so packs import and register, and
``WrapperExecutor`` raises ``NotImplementedError`` when used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CallbacksMP:
    ON_CLONE = "on_clone"
    ON_LOAD = "on_load_after"
    ON_DETACH = "on_detach_after"
    ON_CLEANUP = "on_cleanup"
    ON_PRE_RUN = "on_pre_run"
    ON_PREPARE_STATE = "on_prepare_state"
    ON_APPLY_HOOKS = "on_apply_hooks"
    ON_REGISTER_ALL_HOOK_PATCHES = "on_register_all_hook_patches"
    ON_INJECT_MODEL = "on_inject_model"
    ON_EJECT_MODEL = "on_eject_model"

    @classmethod
    def init_callbacks(cls) -> dict[str, dict[str, list[Callable]]]:
        return {}


class WrappersMP:
    OUTER_SAMPLE = "outer_sample"
    PREPARE_SAMPLING = "prepare_sampling"
    SAMPLER_SAMPLE = "sampler_sample"
    CALC_COND_BATCH = "calc_cond_batch"
    APPLY_MODEL = "apply_model"
    DIFFUSION_MODEL = "diffusion_model"

    @classmethod
    def init_wrappers(cls) -> dict[str, dict[str, list[Callable]]]:
        return {}


class PatcherInjection:
    """A pair of functions ComfyUI calls to inject into and eject from a model (recorded, not run by Atelier)."""

    def __init__(self, inject: Callable, eject: Callable) -> None:
        self.inject = inject
        self.eject = eject


class WrapperExecutor:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("ComfyUI's wrapper executors are not run by Atelier's sampler")

    @classmethod
    def new_executor(cls, *args: Any, **kwargs: Any) -> WrapperExecutor:
        return cls(*args, **kwargs)

    @classmethod
    def new_class_executor(cls, *args: Any, **kwargs: Any) -> WrapperExecutor:
        return cls(*args, **kwargs)


def copy_nested_dicts(input_dict: dict) -> dict:
    """Nested dicts and lists copied, leaves shared (ComfyUI's name)."""
    from engine.sd.model_options import copy_nested

    return copy_nested(input_dict)


def merge_nested_dicts(dict1: dict, dict2: dict, copy_dict1: bool = True) -> dict:
    """``dict2`` merged into (a copy of) ``dict1``: nested dicts merged, lists concatenated, others replaced."""
    merged = copy_nested_dicts(dict1) if copy_dict1 else dict1
    for key, value in dict2.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_nested_dicts(merged[key], value, copy_dict1=False)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        else:
            merged[key] = value
    return merged
