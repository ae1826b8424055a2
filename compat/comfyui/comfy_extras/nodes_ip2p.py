"""ComfyUI's ``comfy_extras.nodes_ip2p``: InstructPixToPixConditioning (a ComfyUI V3 node; ``encode`` is its
older V1 method).

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
__getattr__ = _classes.attribute
