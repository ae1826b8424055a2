"""ComfyUI's ``comfy`` package for plug-ins: views over Atelier's engine and runtime (see ``compat``)."""
