"""ComfyUI's ``comfy.ldm.flux.math``: Flux's rotary embedding and attention. A stand-in: Atelier does not run Flux
models, so each function raises ``NotImplementedError`` when called."""

from compat.stand_ins import unsupported_function

_LACKS = "Atelier does not run Flux models"

apply_rope = unsupported_function(__name__, "apply_rope", _LACKS)
rope = unsupported_function(__name__, "rope", _LACKS)
attention = unsupported_function(__name__, "attention", _LACKS)
