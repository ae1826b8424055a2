"""ComfyUI's ``comfy.taesd.taehv``: the tiny video autoencoder (TAEHV). A stand-in: Atelier has none, so its names
raise ``NotImplementedError`` when used."""

from torch import nn

from compat.stand_ins import unsupported_class, unsupported_function

_LACKS = "Atelier has no tiny video autoencoder (TAEHV)"

conv = unsupported_function(__name__, "conv", _LACKS)
apply_model_with_memblocks = unsupported_function(__name__, "apply_model_with_memblocks", _LACKS)
TAEHV = unsupported_class(__name__, "TAEHV", _LACKS, (nn.Module,))
