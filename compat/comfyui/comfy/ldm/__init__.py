"""ComfyUI's ``comfy.ldm`` package: the model architectures. Atelier runs the SD-style UNet (``engine.sd``), so
``comfy.ldm.modules`` are views of its classes; other families' modules are stand-ins (``compat.stand_ins``)."""
