"""Hypernetworks, InstructPix2Pix and GLIGEN, with ComfyUI's node names, inputs and outputs.

The tensor work is in ``engine.sd.hypernetwork`` (A1111's modules, an attention patch on the MODEL),
``engine.sd.instruct_pix2pix`` (the image latent the 8-channel UNet sees, ``engine.sd.model_inputs``) and
``engine.sd.gligen`` (boxes turned into grounding tokens, fused in every transformer block while sampling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.api import Combo, ExecutionContext, Float, Int, Node, Output, Socket, String, model_choices

if TYPE_CHECKING:
    import torch

    from engine.sd.gligen import Gligen
    from engine.sd.model import DiffusionModel

MAX_RESOLUTION = 16384


class HypernetworkLoader(Node):
    """Patches a model with an A1111 hypernetwork (the keys and values of every attention); the loaded model is
    not modified."""

    category = "loaders"
    inputs = [Socket("model", "MODEL"), Combo("hypernetwork_name", model_choices("hypernetworks")),
              Float("strength", 1.0, min=-10.0, max=10.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model: DiffusionModel, hypernetwork_name: str, strength: float,
                context: ExecutionContext) -> tuple:
        from engine.sd.hypernetwork import read_hypernetwork

        path = context.folders.model_path("hypernetworks", hypernetwork_name)
        patch = context.models.load(path, "hypernetwork", read_hypernetwork).patch(strength)
        patched = model.clone()
        patched.set_model_attn1_patch(patch)
        patched.set_model_attn2_patch(patch)
        return (patched,)


class InstructPixToPixConditioning(Node):
    """Sets the image an InstructPix2Pix model edits on both conditionings, and an empty latent of its size."""

    category = "conditioning/instructpix2pix"
    inputs = [Socket("positive", "CONDITIONING"), Socket("negative", "CONDITIONING"), Socket("vae", "VAE"),
              Socket("pixels", "IMAGE")]
    outputs = [Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent")]

    def execute(self, positive: list, negative: list, vae: object, pixels: torch.Tensor) -> tuple:
        from engine.sd.instruct_pix2pix import ip2p_conditioning

        return ip2p_conditioning(positive, negative, vae, pixels)


class GLIGENLoader(Node):
    """Loads a GLIGEN model (boxes that place text-described objects) from the gligen folder."""

    category = "loaders"
    inputs = [Combo("gligen_name", model_choices("gligen"))]
    outputs = [Output("GLIGEN")]

    def execute(self, gligen_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.gligen import read_gligen

        path = context.folders.model_path("gligen", gligen_name)
        return (context.models.load(path, "gligen", read_gligen),)


class GLIGENTextBoxApply(Node):
    """Places what ``text`` describes in a box (pixels) of the image, through a GLIGEN model."""

    category = "conditioning/gligen"
    inputs = [Socket("conditioning_to", "CONDITIONING"), Socket("clip", "CLIP"),
              Socket("gligen_textbox_model", "GLIGEN"), String("text", multiline=True, dynamic_prompts=True),
              Int("width", 64, min=8, max=MAX_RESOLUTION, step=8), Int("height", 64, min=8, max=MAX_RESOLUTION, step=8),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=8), Int("y", 0, min=0, max=MAX_RESOLUTION, step=8)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning_to: list, clip: object, gligen_textbox_model: Gligen, text: str, width: int,
                height: int, x: int, y: int) -> tuple:
        from engine.sd.gligen import with_positions

        _, pooled = clip.encode_text(text)  # type: ignore[attr-defined]
        if pooled.shape[-1] != gligen_textbox_model.key_dim:
            raise ValueError(f"this GLIGEN model takes {gligen_textbox_model.key_dim}-wide phrase embeddings; the "
                             f"CLIP gives {pooled.shape[-1]}: use the text encoder of the model it was made for")
        return (with_positions(conditioning_to, gligen_textbox_model, pooled, width, height, x, y),)


NODES = [HypernetworkLoader, InstructPixToPixConditioning, GLIGENLoader, GLIGENTextBoxApply]
