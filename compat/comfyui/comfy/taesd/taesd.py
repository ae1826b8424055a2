"""ComfyUI's ``comfy.taesd.taesd``: the tiny image autoencoder (TAESD). A stand-in: Atelier has no TAESD (its
previews come from the latent format's RGB factors), so building these layers raises ``NotImplementedError``."""

from torch import nn

from compat.stand_ins import unsupported_class, unsupported_function

_LACKS = "Atelier has no TAESD; its previews use the latent format's RGB factors"

conv = unsupported_function(__name__, "conv", _LACKS)
Clamp = unsupported_class(__name__, "Clamp", _LACKS, (nn.Module,))
Block = unsupported_class(__name__, "Block", _LACKS, (nn.Module,))
TAESD = unsupported_class(__name__, "TAESD", _LACKS, (nn.Module,))
