"""ComfyUI's ``comfy_api.latest``: the V3 node API (``io``, ``ui``), ``ComfyExtension`` for packs that export an
async ``comfy_entrypoint``, the value types (``Input``, ``InputImpl``, ``Types``) and ``ComfyAPI``.

Atelier's loader (``nodes.plugins`` with ``compat.v3_nodes``) registers the extension's nodes and V3 classes listed
in ``NODE_CLASS_MAPPINGS``; they run through Atelier's executor like any node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from comfy_api.internal import ComfyAPIBase
from comfy_api.latest import _input, _input_impl, _util
from comfy_api.latest import _io as io
from comfy_api.latest import _ui as ui


class ComfyExtension(ABC):
    """What ``comfy_entrypoint()`` returns: its ``get_node_list()`` lists the pack's ``io.ComfyNode`` classes."""

    async def on_load(self) -> None:  # noqa: B027 (optional hook, empty by design)
        """Called once when the extension loads, before its nodes are listed."""

    @abstractmethod
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        ...


class _Execution:
    """``ComfyAPI().execution``: progress of the running node."""

    async def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                           preview_image: Any = None, ignore_size_limit: bool = False) -> None:
        """Report progress on the running node (Atelier's ``context.progress``; also stops when interrupted)."""
        _report_progress(value, max_value, node_id, preview_image)


def _report_progress(value: float, max_value: float, node_id: str | None, preview_image: Any) -> None:
    from core.context import current_context

    context = current_context()
    if context is None or node_id not in (None, context.node_id):
        raise ValueError("set_progress reports on the running node only (Atelier passes no other node's id)")
    if preview_image is not None and not hasattr(preview_image, "save"):  # an IMAGE tensor: its first picture
        from engine.image_ops import to_pil

        preview_image = to_pil(preview_image[0] if preview_image.ndim == 4 else preview_image)
    context.progress(int(value), int(max_value), preview_image)


class ComfyAPI_latest(ComfyAPIBase):  # noqa: N801 (ComfyUI's name)
    VERSION = "latest"
    STABLE = False

    def __init__(self) -> None:
        self.execution = _Execution()


class _ExecutionSync:
    def set_progress(self, value: float, max_value: float, node_id: str | None = None, preview_image: Any = None,
                     ignore_size_limit: bool = False) -> None:
        _report_progress(value, max_value, node_id, preview_image)


class ComfyAPISync(ComfyAPIBase):
    """``ComfyAPI`` with plain (not async) methods."""

    VERSION = "latest"
    STABLE = False

    def __init__(self) -> None:
        self.execution = _ExecutionSync()


class _InputTypes(type):
    def __getattr__(cls, name: str) -> Any:
        if name in ("Image", "Mask"):  # torch.Tensor, imported only when asked for
            return getattr(_input, f"{name}Input")
        raise AttributeError(name)


class Input(metaclass=_InputTypes):
    """The value types of inputs: ``Input.Image``/``Input.Mask`` (``torch.Tensor``), ``Audio``, ``Latent``,
    ``Video`` (stand-in)."""

    Audio = _input.AudioInput
    Latent = _input.LatentInput
    Video = _input.VideoInput


class InputImpl:
    VideoFromFile = _input_impl.VideoFromFile
    VideoFromComponents = _input_impl.VideoFromComponents


class Types:
    VideoCodec = _util.VideoCodec
    VideoContainer = _util.VideoContainer
    VideoComponents = _util.VideoComponents


ComfyAPI = ComfyAPI_latest
IO = comfy_io = io
UI = ui

__all__ = ["ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types", "ComfyExtension", "io", "IO", "comfy_io",
           "ui", "UI"]
