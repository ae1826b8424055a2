"""ComfyUI's ``comfy_api.internal``: the helpers the V3 node API is built on (the names packs occasionally import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ComfyAPIBase:
    """Base of the versioned ``ComfyAPI`` classes (``comfy_api.latest.ComfyAPI``)."""

    VERSION = "latest"
    STABLE = False


class _ComfyNodeInternal:
    """What every V3 node class derives from (``io.ComfyNode``); the loader and executor test against it."""


class _NodeOutputInternal:
    """What a V3 node's ``execute`` returns (``io.NodeOutput``)."""


class classproperty:
    """A read-only property of a class (ComfyUI's V1 names on V3 nodes: ``RETURN_TYPES``, ``CATEGORY``, ...)."""

    def __init__(self, getter: Callable[[type], Any]) -> None:
        self.getter = getter

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.getter(owner)


def prune_dict(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the entries that are None."""
    return {key: value for key, value in values.items() if value is not None}


def is_class(value: Any) -> bool:
    return isinstance(value, type)


def first_real_override(cls: type, name: str, *, base: type | None = None) -> Callable | None:
    """``cls``'s ``name`` bound to ``cls`` when a class below ``base`` (``cls.GET_BASE_CLASS()`` by default)
    overrides the placeholder ``base`` defines; None when only the placeholder exists."""
    base = base or cls.GET_BASE_CLASS()  # type: ignore[attr-defined]
    placeholder = getattr(base, name, None)
    if placeholder is None:
        return None
    for klass in cls.mro():
        if klass is base:
            return None
        if name in klass.__dict__:
            overridden = getattr(klass, name)
            if getattr(overridden, "__func__", overridden) is not getattr(placeholder, "__func__", placeholder):
                return getattr(cls, name)
    return None
