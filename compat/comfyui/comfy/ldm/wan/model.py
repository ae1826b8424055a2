"""ComfyUI's ``comfy.ldm.wan.model``: the Wan video transformer. A stand-in: Atelier does not run it; building its
classes raises ``NotImplementedError``."""

from torch import nn

from compat.stand_ins import unsupported_class

_LACKS = "Atelier does not run Wan video models"

WanModel = unsupported_class(__name__, "WanModel", _LACKS, (nn.Module,))
WanSelfAttention = unsupported_class(__name__, "WanSelfAttention", _LACKS, (nn.Module,))
WanT2VCrossAttention = unsupported_class(__name__, "WanT2VCrossAttention", _LACKS, (WanSelfAttention,))
WanI2VCrossAttention = unsupported_class(__name__, "WanI2VCrossAttention", _LACKS, (WanSelfAttention,))
