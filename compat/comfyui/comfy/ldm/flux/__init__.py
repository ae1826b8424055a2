"""ComfyUI's ``comfy.ldm.flux``: the Flux model. Atelier does not run Flux; ``math`` is a stand-in."""
