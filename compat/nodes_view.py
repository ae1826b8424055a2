"""ComfyUI's ``nodes`` module names, answered by Atelier's ``nodes`` package (see ``nodes.__getattr__``)."""

MAX_RESOLUTION = 16384
