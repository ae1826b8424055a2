"""ComfyUI's ``comfy.quant_ops``: quantized-tensor layouts and kernels (fp8/int8 scaled weights). A stand-in:
Atelier stores weights in plain dtypes (``engine.weight_dtypes``); ``QuantizedTensor`` cannot be built."""

from compat.stand_ins import unsupported_class

QuantizedTensor = unsupported_class(__name__, "QuantizedTensor", "Atelier has no quantized weight layouts")
