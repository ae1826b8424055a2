"""The runtime ComfyUI's module-level API is a view of.

ComfyUI's plug-in API is process-wide by design (``folder_paths.get_full_path``, ``PromptServer.instance``,
``comfy.model_management.get_torch_device`` take no runtime argument), so the compat modules need one place to
find the running system: the ``ComfyHost`` bound here when a runtime is built, just before its plug-ins load. It is
the only module-level state of the compatibility layer; everything it answers lives on the bound ``Runtime``.
Code running inside a node should prefer ``core.context.current_context()`` (the node's own context) where one
exists.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compat import COMFYUI_MODULES

if TYPE_CHECKING:
    from runtime import Runtime


class NotBound(RuntimeError):
    """A ComfyUI module was used outside a running Atelier (no runtime has been built in this process)."""


@dataclass
class ComfyHost:
    """One runtime as ComfyUI's modules see it, with the objects ComfyUI keeps as singletons."""

    runtime: Runtime
    extras: dict[str, Any] = field(default_factory=dict)  # per-runtime singletons the views create (PromptServer)


class _Binding:
    def __init__(self) -> None:
        self.host: ComfyHost | None = None


_binding = _Binding()


def bind(runtime: Runtime) -> ComfyHost:
    """Make ComfyUI's modules views of ``runtime`` (the latest runtime built in this process wins) and make them
    importable."""
    install_path()
    _binding.host = ComfyHost(runtime)
    return _binding.host


def host() -> ComfyHost:
    if _binding.host is None:
        raise NotBound("ComfyUI's API is only available inside a running Atelier server (no runtime is bound)")
    return _binding.host


def runtime() -> Runtime:
    return host().runtime


def install_path() -> None:
    """Put ``compat/comfyui`` on ``sys.path`` so ``import folder_paths`` and ``import comfy.utils`` work."""
    path = str(COMFYUI_MODULES)
    if path not in sys.path:
        sys.path.insert(0, path)
