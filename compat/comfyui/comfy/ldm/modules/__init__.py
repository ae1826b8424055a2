"""ComfyUI's ``comfy.ldm.modules``: the SD UNet's building blocks, as views of ``engine.sd``."""
