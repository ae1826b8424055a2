"""ComfyUI's ``comfy.ldm.minimax``: the MiniMax video model. Atelier does not run it; ``model`` is a stand-in."""
