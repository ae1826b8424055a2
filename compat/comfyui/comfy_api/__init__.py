"""ComfyUI's ``comfy_api`` package: the versioned plug-in API (``comfy_api.latest``, ``v0_0_2``, ``v0_0_1``)."""
