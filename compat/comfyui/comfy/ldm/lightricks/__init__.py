"""ComfyUI's ``comfy.ldm.lightricks``: the LTX-Video model. Atelier does not run it; its modules are stand-ins."""
