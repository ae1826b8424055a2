"""ComfyUI's ``comfy.ldm.modules.diffusionmodules.model``: the SD VAE's blocks, as Atelier's
(``engine.sd.vae_model``): ``ResnetBlock``, ``AttnBlock``, ``Encoder``, ``Decoder``.

Partial: the classes take Atelier's constructor arguments, not ComfyUI's keyword lists.
"""

from __future__ import annotations

from engine.sd.vae_model import AttnBlock, Decoder, Encoder, ResnetBlock

__all__ = ["AttnBlock", "Decoder", "Encoder", "ResnetBlock"]
