"""Loaders ComfyUI's web app looks up by name, whose models Atelier's engine cannot read yet (issue 15).

ComfyUI's web app registers ten loader classes as model providers and breaks every checkpoint, VAE and LoRA
loader when one of them is missing from ``/object_info``. These three are declared with ComfyUI's names, inputs,
outputs and categories, list their model folders, and fail with a message naming what is missing when run.
"""

from __future__ import annotations

from nodes.api import Combo, ExecutionContext, Node, Output, model_choices


def not_readable_yet(node: str, folder: str, name: str, what: str, context: ExecutionContext) -> NotImplementedError:
    """The error a pending loader raises: the file is checked first, so a missing file is reported as such."""
    path = context.folders.model_path(folder, name)
    return NotImplementedError(f"{node} cannot load {path.name}: Atelier does not read {what} yet. "
                               f"The node is listed so ComfyUI's web app and workflows that name it load.")


class ImageOnlyCheckpointLoader(Node):
    """Loads an image-to-video checkpoint (Stable Video Diffusion): its model, CLIP vision encoder and VAE."""

    display_name = "Image Only Checkpoint Loader (img2vid model)"
    category = "loaders/video_models"
    inputs = [Combo("ckpt_name", model_choices("checkpoints"))]
    outputs = [Output("MODEL"), Output("CLIP_VISION"), Output("VAE")]

    def execute(self, ckpt_name: str, context: ExecutionContext) -> tuple:
        raise not_readable_yet("ImageOnlyCheckpointLoader", "checkpoints", ckpt_name,
                               "image-to-video checkpoints (a CLIP vision encoder and a video UNet)", context)


class StyleModelLoader(Node):
    """Loads a style model (a T2I style adapter or a Redux model) from the style_models folder."""

    display_name = "Load Style Model"
    category = "loaders"
    inputs = [Combo("style_model_name", model_choices("style_models"))]
    outputs = [Output("STYLE_MODEL")]

    def execute(self, style_model_name: str, context: ExecutionContext) -> tuple:
        raise not_readable_yet("StyleModelLoader", "style_models", style_model_name, "style models", context)


class GLIGENLoader(Node):
    """Loads a GLIGEN model (boxes that place text-described objects) from the gligen folder."""

    category = "loaders"
    inputs = [Combo("gligen_name", model_choices("gligen"))]
    outputs = [Output("GLIGEN")]

    def execute(self, gligen_name: str, context: ExecutionContext) -> tuple:
        raise not_readable_yet("GLIGENLoader", "gligen", gligen_name, "GLIGEN models", context)


NODES = [ImageOnlyCheckpointLoader, StyleModelLoader, GLIGENLoader]
