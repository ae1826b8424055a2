"""ComfyUI's ``comfy.controlnet``: ``load_controlnet`` through the bound runtime's model cache (the object Atelier's
ControlNetLoader gives), and ComfyUI's class names over Atelier's (``engine.comfy_control``): ``ControlBase`` is the
base of Atelier's nets and of the hints conditioning carries, ``ControlNet`` and ``T2IAdapter`` are Atelier's nets.
``ControlLora`` and ``ControlNetSD35`` stand for models Atelier does not run and cannot be built.
"""

from __future__ import annotations

import functools
from enum import Enum
from pathlib import Path
from typing import Any


class StrengthType(Enum):
    """ComfyUI's ControlNet strength kinds (same values); Atelier applies ``CONSTANT``."""

    CONSTANT = 1
    LINEAR_UP = 2


def load_controlnet(ckpt_path: str, model: Any = None, model_options: dict | None = None) -> Any:
    """A ControlNet or T2I-Adapter file, as ControlNetLoader loads it (DiffControlNetLoader when ``model`` is
    given: a "diff" ControlNet made whole from the model's UNet)."""
    from compat.host import runtime
    from engine.controlnet import load_controlnet as read

    net = runtime().models.load(Path(ckpt_path), "controlnet", read)
    if model is None:
        return net
    from engine.controlnet_diff import controlnet_from_diff

    return controlnet_from_diff(net, model.unet)


def __getattr__(name: str) -> Any:
    """Atelier's classes, imported on first use (they pull in torch)."""
    if name == "ControlBase":
        from engine.comfy_control import ControlBase

        return ControlBase
    if name == "ControlNet":
        from engine.controlnet import ControlNet

        return ControlNet
    if name == "T2IAdapter":
        from engine.t2i_adapter import T2IAdapter

        return T2IAdapter
    if name in ("ControlLora", "ControlNetSD35"):
        return _unsupported(name)
    raise AttributeError(f"module 'comfy.controlnet' has no attribute {name!r}")


@functools.cache  # one class per name, so identity and isinstance checks are stable
def _unsupported(name: str) -> type:
    from compat.stand_ins import unsupported_class
    from engine.controlnet import ControlNet

    return unsupported_class(__name__, name, "Atelier runs full ControlNets and T2I-Adapters only", (ControlNet,))
