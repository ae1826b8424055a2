"""ComfyUI's ``comfy.cldm.cldm``: ``ControlNet``, the ControlNet network, is Atelier's
(``engine.controlnet.ControlNet``, which is also ``comfy.controlnet.ControlNet``: one class is both the network and
the CONTROL_NET value in Atelier).

Partial: Atelier's class is built from a ``UNetConfig`` (``engine.sd.unet_config``), not from ComfyUI's keyword
arguments, so packs' subclasses that call ``super().__init__(**unet_config)`` fail there.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "ControlNet":
        from engine.controlnet import ControlNet

        return ControlNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
