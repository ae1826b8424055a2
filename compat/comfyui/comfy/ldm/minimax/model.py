"""ComfyUI's ``comfy.ldm.minimax.model``: the MiniMax video transformer. A stand-in: Atelier does not run it; its
functions and classes raise ``NotImplementedError`` when used."""

from torch import nn

from compat.stand_ins import unsupported_class, unsupported_function

_LACKS = "Atelier does not run MiniMax video models"

_mod_scale_shift = unsupported_function(__name__, "_mod_scale_shift", _LACKS)
_mod_gate = unsupported_function(__name__, "_mod_gate", _LACKS)
PackedLayout = unsupported_class(__name__, "PackedLayout", _LACKS)
MiniMaxH3Model = unsupported_class(__name__, "MiniMaxH3Model", _LACKS, (nn.Module,))
