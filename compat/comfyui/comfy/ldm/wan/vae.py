"""ComfyUI's ``comfy.ldm.wan.vae``: Wan's video VAE. A stand-in: Atelier does not run it; building its classes
raises ``NotImplementedError``."""

from torch import nn

from compat.stand_ins import unsupported_class

_LACKS = "Atelier does not run Wan video models"

RMS_norm = unsupported_class(__name__, "RMS_norm", _LACKS, (nn.Module,))
CausalConv3d = unsupported_class(__name__, "CausalConv3d", _LACKS, (nn.Conv3d,))
WanVAE = unsupported_class(__name__, "WanVAE", _LACKS, (nn.Module,))
