"""ComfyUI's ``comfy.ldm.lightricks.model``: the LTX-Video transformer. A stand-in: Atelier does not run LTX-Video
models, so the names packs import raise ``NotImplementedError`` when used."""

from torch import nn

from compat.stand_ins import unsupported_class, unsupported_function

_LACKS = "Atelier does not run LTX-Video models"

apply_rotary_emb = unsupported_function(__name__, "apply_rotary_emb", _LACKS)
LTXVModel = unsupported_class(__name__, "LTXVModel", _LACKS, (nn.Module,))
