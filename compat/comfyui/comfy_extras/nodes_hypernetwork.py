"""ComfyUI's ``comfy_extras.nodes_hypernetwork``: HypernetworkLoader (``load_hypernetwork``).

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
__getattr__ = _classes.attribute
