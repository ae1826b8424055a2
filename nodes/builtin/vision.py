"""CLIP vision, unCLIP, style models and image-only checkpoints, with ComfyUI's node names, inputs and outputs.

The tensor work is in ``engine.sd.clip_vision`` (encoder and preprocessing), ``engine.sd.unclip`` (the image
conditioning an unCLIP UNet takes), ``engine.style_model`` and ``engine.sd.image_only``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nodes.api import Combo, ExecutionContext, Float, Node, Output, Socket, model_choices

if TYPE_CHECKING:
    import torch

    from engine.sd.clip_vision import ClipVision
    from engine.style_model import StyleModel

STRENGTH_TYPES = ["multiply", "attn_bias"]  # engine.style_model.STRENGTH_TYPES, kept torch-free here


class CLIPVisionLoader(Node):
    """Loads a CLIP vision encoder (ViT-L/14, ViT-H/14 or ViT-bigG/14) from the clip_vision folder."""

    display_name = "Load CLIP Vision"
    category = "loaders"
    inputs = [Combo("clip_name", model_choices("clip_vision"))]
    outputs = [Output("CLIP_VISION")]

    def execute(self, clip_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.clip_vision import read_clip_vision

        path = context.folders.model_path("clip_vision", clip_name)
        return (context.models.load(path, "clip_vision", lambda file: read_clip_vision(file, context.devices)),)


class CLIPVisionEncode(Node):
    """Encodes an image with a CLIP vision model (224x224: centre-cropped, or squashed with crop "none")."""

    display_name = "CLIP Vision Encode"
    category = "conditioning"
    inputs = [Socket("clip_vision", "CLIP_VISION"), Socket("image", "IMAGE"), Combo("crop", ["center", "none"])]
    outputs = [Output("CLIP_VISION_OUTPUT")]

    def execute(self, clip_vision: ClipVision, image: torch.Tensor, crop: str) -> tuple:
        return (clip_vision.encode_image(image, crop=crop == "center"),)


class unCLIPCheckpointLoader(Node):  # noqa: N801 - ComfyUI's name
    """Loads an unCLIP checkpoint (SD2.1 unCLIP): its model, text encoder, VAE and CLIP vision encoder."""

    category = "loaders"
    inputs = [Combo("ckpt_name", model_choices("checkpoints"))]
    outputs = [Output("MODEL"), Output("CLIP"), Output("VAE"), Output("CLIP_VISION")]

    def execute(self, ckpt_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.checkpoint import read_unclip_checkpoint

        path = context.folders.model_path("checkpoints", ckpt_name)
        model, clip, vae, clip_vision = context.models.load(
            path, "unclip_checkpoint", lambda file: read_unclip_checkpoint(file, context.devices))
        return model.clone(), clip, vae, clip_vision


class unCLIPConditioning(Node):  # noqa: N801 - ComfyUI's name
    """Adds an image (a CLIP vision output) to the conditioning of an unCLIP model."""

    category = "conditioning"
    inputs = [Socket("conditioning", "CONDITIONING"), Socket("clip_vision_output", "CLIP_VISION_OUTPUT"),
              Float("strength", 1.0, min=-10.0, max=10.0, step=0.01),
              Float("noise_augmentation", 0.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: list, clip_vision_output: Any, strength: float,
                noise_augmentation: float) -> tuple:
        from engine.sd.unclip import add_unclip

        return (add_unclip(conditioning, clip_vision_output, strength, noise_augmentation),)


class ImageOnlyCheckpointLoader(Node):
    """Loads an image-to-video checkpoint (Stable Video Diffusion): its CLIP vision encoder and VAE. Atelier cannot
    run its video model: the MODEL output says so when used."""

    display_name = "Image Only Checkpoint Loader (img2vid model)"
    category = "loaders/video_models"
    inputs = [Combo("ckpt_name", model_choices("checkpoints"))]
    outputs = [Output("MODEL"), Output("CLIP_VISION"), Output("VAE")]

    def execute(self, ckpt_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.image_only import read_image_only_checkpoint

        path = context.folders.model_path("checkpoints", ckpt_name)
        return context.models.load(path, "image_only_checkpoint",
                                   lambda file: read_image_only_checkpoint(file, context.devices))


class StyleModelLoader(Node):
    """Loads a style model (a T2I-Adapter style model) from the style_models folder."""

    display_name = "Load Style Model"
    category = "loaders"
    inputs = [Combo("style_model_name", model_choices("style_models"))]
    outputs = [Output("STYLE_MODEL")]

    def execute(self, style_model_name: str, context: ExecutionContext) -> tuple:
        from engine.style_model import read_style_model

        path = context.folders.model_path("style_models", style_model_name)
        return (context.models.load(path, "style_model", lambda file: read_style_model(file, context.devices)),)


class StyleModelApply(Node):
    """Appends an image's style tokens (a style model over a CLIP vision output) to the conditioning."""

    display_name = "Apply Style Model"
    category = "conditioning/style_model"
    inputs = [Socket("conditioning", "CONDITIONING"), Socket("style_model", "STYLE_MODEL"),
              Socket("clip_vision_output", "CLIP_VISION_OUTPUT"),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.001), Combo("strength_type", STRENGTH_TYPES)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: list, style_model: StyleModel, clip_vision_output: Any, strength: float,
                strength_type: str) -> tuple:
        from engine.style_model import apply_style

        return (apply_style(conditioning, style_model.get_cond(clip_vision_output), strength, strength_type),)


NODES = [CLIPVisionLoader, CLIPVisionEncode, unCLIPCheckpointLoader, unCLIPConditioning, ImageOnlyCheckpointLoader,
         StyleModelLoader, StyleModelApply]
