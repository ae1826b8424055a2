"""ComfyUI's ``comfy.taesd``: the tiny autoencoders (TAESD, TAEHV) ComfyUI uses for previews and fast
decoding. Atelier has none; its modules are stand-ins."""
