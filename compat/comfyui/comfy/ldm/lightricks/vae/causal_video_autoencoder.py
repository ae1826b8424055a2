"""ComfyUI's ``comfy.ldm.lightricks.vae.causal_video_autoencoder``: a stand-in (Atelier does not run LTX-Video's
VAE); building any of its classes raises ``NotImplementedError``."""

from torch import nn

from compat.stand_ins import unsupported_class

_LACKS = "Atelier does not run LTX-Video's VAE"

ResnetBlock3D = unsupported_class(__name__, "ResnetBlock3D", _LACKS, (nn.Module,))
Encoder = unsupported_class(__name__, "Encoder", _LACKS, (nn.Module,))
Decoder = unsupported_class(__name__, "Decoder", _LACKS, (nn.Module,))
VideoVAE = unsupported_class(__name__, "VideoVAE", _LACKS, (nn.Module,))
