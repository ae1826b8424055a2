"""Loaders ComfyUI's web app looks up by name, whose models Atelier's engine cannot read yet (issue 15).

ComfyUI's web app registers ten loader classes as model providers and breaks every checkpoint, VAE and LoRA
loader when one of them is missing from ``/object_info``. The one left here is declared with ComfyUI's name,
inputs, outputs and category, lists its model folder, and fails with a message naming what is missing when run
(ImageOnlyCheckpointLoader and StyleModelLoader are real now, in ``nodes.builtin.vision``).
"""

from __future__ import annotations

from nodes.api import Combo, ExecutionContext, Node, Output, model_choices


def not_readable_yet(node: str, folder: str, name: str, what: str, context: ExecutionContext) -> NotImplementedError:
    """The error a pending loader raises: the file is checked first, so a missing file is reported as such."""
    path = context.folders.model_path(folder, name)
    return NotImplementedError(f"{node} cannot load {path.name}: Atelier does not read {what} yet. "
                               f"The node is listed so ComfyUI's web app and workflows that name it load.")


class GLIGENLoader(Node):
    """Loads a GLIGEN model (boxes that place text-described objects) from the gligen folder."""

    category = "loaders"
    inputs = [Combo("gligen_name", model_choices("gligen"))]
    outputs = [Output("GLIGEN")]

    def execute(self, gligen_name: str, context: ExecutionContext) -> tuple:
        raise not_readable_yet("GLIGENLoader", "gligen", gligen_name, "GLIGEN models", context)


NODES = [GLIGENLoader]
