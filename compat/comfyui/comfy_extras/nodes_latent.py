"""ComfyUI's ``comfy_extras.nodes_latent``: LatentBatch (Atelier's node of that name).

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is a
stand-in that raises ``NotImplementedError`` when run.
"""

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
__getattr__ = _classes.attribute
