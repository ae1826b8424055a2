"""ComfyUI's ``comfy.ldm.modules.diffusionmodules.openaimodel``: the SD UNet, as Atelier's (``engine.sd.unet``).

``UNetModel`` is Atelier's UNet class (``isinstance(model.model.diffusion_model, UNetModel)`` holds for SD1.x, SD2.x
and SDXL models); ``TimestepEmbedSequential`` is Atelier's block of layers fed with what each needs
(``TimestepBlock`` there); ``ResBlock``, ``Downsample``, ``Upsample`` are Atelier's layers;
``forward_timestep_embed`` runs one such block.

Partial: the classes take Atelier's constructor arguments (a ``UNetConfig``), not ComfyUI's keyword lists; Atelier's
UNet runs its blocks itself, so replacing ``forward_timestep_embed`` does not change how it runs; ``VideoResBlock``
(video UNets) is a stand-in.
"""

from __future__ import annotations

from typing import Any

import torch

from compat.stand_ins import unsupported_class
from engine.sd.unet import Downsample, ResBlock, UNetModel, Upsample
from engine.sd.unet import TimestepBlock as TimestepEmbedSequential

__all__ = ["Downsample", "ResBlock", "TimestepEmbedSequential", "UNetModel", "Upsample", "VideoResBlock",
           "forward_timestep_embed"]

VideoResBlock = unsupported_class(__name__, "VideoResBlock", "video UNets (SVD)", (ResBlock,))


def forward_timestep_embed(ts: TimestepEmbedSequential, x: torch.Tensor, emb: torch.Tensor,
                           context: torch.Tensor | None = None, transformer_options: dict | None = None,
                           output_shape: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
    """One UNet block over ``x`` (``output_shape``: the skip's shape an upsampling layer matches)."""
    size = tuple(output_shape[-2:]) if output_shape is not None else None
    return ts(x, emb, context, size)
