"""ComfyUI's ``comfy.ldm.lumina``: the Lumina model. Atelier does not run it; ``model`` is a stand-in."""
