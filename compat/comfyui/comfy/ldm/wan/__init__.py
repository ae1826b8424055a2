"""ComfyUI's ``comfy.ldm.wan``: the Wan video model and VAE. Atelier does not run them; its modules are stand-ins."""
