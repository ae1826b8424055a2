"""Node types: the typed node API, the registry, plug-in loading and the built-in nodes.

Plug-ins written for ComfyUI ``import nodes`` for ComfyUI's names (``MAX_RESOLUTION``, ``NODE_CLASS_MAPPINGS``,
``common_ksampler``, ``LoraLoader``, ...): this package answers them from ``compat.nodes_view``.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from compat import nodes_view

    try:
        return getattr(nodes_view, name)
    except AttributeError:
        raise AttributeError(f"module 'nodes' has no attribute {name!r}") from None
