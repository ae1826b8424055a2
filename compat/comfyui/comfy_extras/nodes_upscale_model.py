"""ComfyUI's ``comfy_extras.nodes_upscale_model``: UpscaleModelLoader and ImageUpscaleWithModel (ComfyUI's V3 nodes:
``execute`` as well as their older V1 method names).

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is a
stand-in that raises ``NotImplementedError`` when run.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
__getattr__ = _classes.attribute
