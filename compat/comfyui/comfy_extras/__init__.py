"""ComfyUI's ``comfy_extras`` package for plug-ins: its node modules as views of Atelier's nodes (see ``compat``)."""
