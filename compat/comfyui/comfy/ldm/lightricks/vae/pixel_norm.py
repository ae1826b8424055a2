"""ComfyUI's ``comfy.ldm.lightricks.vae.pixel_norm``: a stand-in (Atelier does not run LTX-Video's VAE)."""

from torch import nn

from compat.stand_ins import unsupported_class

PixelNorm = unsupported_class(__name__, "PixelNorm", "Atelier does not run LTX-Video's VAE", (nn.Module,))
