"""ComfyUI's ``comfy_extras.nodes_model_merging_model_specific``: ModelMergeSD1, ModelMergeSD2 and ModelMergeSDXL
(block-wise merging with a ratio per UNet block).

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
NODE_CLASS_MAPPINGS = _classes.mappings()
__getattr__ = _classes.attribute
