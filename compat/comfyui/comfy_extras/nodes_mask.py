"""ComfyUI's ``comfy_extras.nodes_mask``: the mask nodes and ImageCompositeMasked, and ``composite``.

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is a
stand-in that raises ``NotImplementedError`` when run.
"""

from typing import Any

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
NODE_CLASS_MAPPINGS = _classes.mappings()
__getattr__ = _classes.attribute


def composite(destination: Any, source: Any, x: int, y: int, mask: Any = None, multiplier: int = 8,
              resize_source: bool = False) -> Any:
    """ComfyUI's ``composite`` over channels-first batches ``[B, C, H, W]`` (images, or latents with
    ``multiplier`` 8, where x and y are pixels): Atelier's ``engine.compositing.composite``. Negative offsets,
    which ComfyUI crops, are refused."""
    from engine.compositing import composite as paste

    left, top = x // multiplier, y // multiplier
    if left < 0 or top < 0:
        raise NotImplementedError("Atelier's composite places the source at a non-negative offset only")
    pasted = paste(destination.movedim(1, -1), source.movedim(1, -1), left, top, mask, resize_source)
    return pasted.movedim(-1, 1)
