"""ComfyUI's ``nodes`` module names, answered by Atelier's ``nodes`` package (see ``nodes.__getattr__``).

Every node type of the bound runtime's registry is a V1 class here under its node id (``nodes.LoraLoader``,
``nodes.KSampler``; built by ``compat.v1_classes``), and the module-level names packs read are views of the same
runtime: ``NODE_CLASS_MAPPINGS``, ``NODE_DISPLAY_NAME_MAPPINGS``, ``EXTENSION_WEB_DIRS``, ``common_ksampler``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import compat.host
from compat import v1_classes

MAX_RESOLUTION = 16384


def __getattr__(name: str) -> Any:
    """The per-runtime names, then node classes (``from nodes import LoraLoader``)."""
    if name == "NODE_CLASS_MAPPINGS":
        return NodeClassMappings()
    if name == "NODE_DISPLAY_NAME_MAPPINGS":
        return DisplayNameMappings()
    if name == "EXTENSION_WEB_DIRS":
        return compat.host.runtime().registry.web_directories
    if name.startswith("_"):
        raise AttributeError(name)
    found = v1_classes.node_class(name)
    if found is None:
        raise AttributeError(f"module 'nodes' has no attribute {name!r}")
    return found


class NodeClassMappings(MutableMapping[str, type]):
    """ComfyUI's ``NODE_CLASS_MAPPINGS``: every node type of the bound runtime's registry as a V1 class. Adding a
    class registers it, as ComfyUI's loader does with the mappings of each pack."""

    def __getitem__(self, name: str) -> type:
        if name not in compat.host.runtime().registry:
            raise KeyError(name)
        found = v1_classes.node_class(name)
        assert found is not None
        return found

    def __setitem__(self, name: str, cls: type) -> None:
        from nodes.comfy_v1 import definition_from_v1

        compat.host.runtime().registry.add(definition_from_v1(name, cls, None, cls.__module__))
        compat.host.host().extras.get(v1_classes.CACHE_KEY, {}).pop(name, None)

    def __delitem__(self, name: str) -> None:
        raise TypeError("node types cannot be removed from a running Atelier")

    def __iter__(self) -> Iterator[str]:
        return iter(list(compat.host.runtime().registry.definitions))

    def __len__(self) -> int:
        return len(compat.host.runtime().registry.definitions)


class DisplayNameMappings(Mapping[str, str]):
    """ComfyUI's ``NODE_DISPLAY_NAME_MAPPINGS``: node id -> display name, for the nodes that have one."""

    def _names(self) -> dict[str, str]:
        definitions = compat.host.runtime().registry.definitions
        return {name: d.display_name for name, d in definitions.items() if d.display_name}

    def __getitem__(self, name: str) -> str:
        return self._names()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def common_ksampler(model: Any, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, positive: Any,
                    negative: Any, latent: dict[str, Any], denoise: float = 1.0, disable_noise: bool = False,
                    start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False) -> tuple[dict[str, Any]]:
    """ComfyUI's ``common_ksampler``: Atelier's ``nodes.builtin.sd.common_ksampler`` (what its KSampler runs), with
    the running node's previews and progress, returning ComfyUI's ``(latent,)``."""
    from core.context import current_context
    from nodes.builtin.sd import common_ksampler as sample
    from nodes.builtin.sd import preview_callback

    context = current_context()
    on_step = preview_callback(model, context) if context is not None else None
    return (sample(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent, denoise=denoise,
                   disable_noise=disable_noise, start_step=start_step, last_step=last_step,
                   force_full_denoise=force_full_denoise, on_step=on_step),)


def before_node_execution() -> None:
    """ComfyUI's hook: raise if the running prompt was interrupted."""
    from core.context import current_context

    context = current_context()
    if context is not None:
        context.check_interrupted()


def interrupt_processing(value: bool = True) -> None:
    """Ask the bound runtime to interrupt (or stop interrupting) the running prompt."""
    flag = compat.host.runtime().interrupt
    flag.set() if value else flag.clear()


async def init_extra_nodes(init_custom_nodes: bool = True, init_api_nodes: bool = True) -> list[str]:
    """Stand-in: Atelier registers its nodes and plug-ins when the runtime is built, so nothing is left to do; the
    names of packs that failed to import are returned, as ComfyUI returns its failures."""
    return sorted({failure.module for failure in compat.host.runtime().registry.failures if failure.node is None})


async def load_custom_node(module_path: str, ignore: Any = frozenset(), module_parent: str = "custom_nodes") -> bool:
    """Load one more plug-in (a package folder or a ``.py`` file) into the bound runtime's registry."""
    from nodes.plugins import load_plugin

    return load_plugin(compat.host.runtime().registry, Path(module_path))
