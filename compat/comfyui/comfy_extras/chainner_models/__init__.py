"""ComfyUI's ``comfy_extras.chainner_models``, kept for the plug-ins that still import ``model_loading``."""
