"""ComfyUI's ``comfy.cldm`` package: the ControlNet network (``cldm.ControlNet``)."""
