"""ComfyUI's ``comfy_extras.nodes_model_merging``: ModelMergeSimple, ModelMergeBlocks, ModelSubtract
(ModelMergeSubtract), ModelAdd (ModelMergeAdd), CLIPMergeSimple, CLIPSubtract (CLIPMergeSubtract), CLIPAdd
(CLIPMergeAdd) and CheckpointSave.

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is a
stand-in that raises ``NotImplementedError`` when run.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
NODE_CLASS_MAPPINGS = _classes.mappings()
__getattr__ = _classes.attribute
