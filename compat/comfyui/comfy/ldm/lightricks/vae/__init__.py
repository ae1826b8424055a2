"""ComfyUI's ``comfy.ldm.lightricks.vae``: LTX-Video's VAE. Atelier does not run it; its modules are stand-ins."""
