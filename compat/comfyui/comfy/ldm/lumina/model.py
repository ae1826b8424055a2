"""ComfyUI's ``comfy.ldm.lumina.model``: the Lumina transformer. A stand-in: Atelier does not run it; building its
classes raises ``NotImplementedError``."""

from torch import nn

from compat.stand_ins import unsupported_class

_LACKS = "Atelier does not run Lumina models"

FeedForward = unsupported_class(__name__, "FeedForward", _LACKS, (nn.Module,))
NextDiT = unsupported_class(__name__, "NextDiT", _LACKS, (nn.Module,))
