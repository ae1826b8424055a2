"""ComfyUI's ``comfy.ldm.lightricks.vae.causal_conv3d``: a stand-in (Atelier does not run LTX-Video's VAE)."""

from torch import nn

from compat.stand_ins import unsupported_class

CausalConv3d = unsupported_class(__name__, "CausalConv3d", "Atelier does not run LTX-Video's VAE", (nn.Module,))
