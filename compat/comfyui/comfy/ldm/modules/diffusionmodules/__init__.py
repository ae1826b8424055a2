"""ComfyUI's ``comfy.ldm.modules.diffusionmodules``: the SD UNet (``openaimodel``), its helpers (``util``) and the
VAE's blocks (``model``), as views of ``engine.sd``."""
