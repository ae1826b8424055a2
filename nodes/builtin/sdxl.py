"""SDXL's text nodes: separate prompts for its two encoders, and the size / aesthetic-score conditioning its
UNets were trained with (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.definition import InputSpec
from nodes.api import ExecutionContext, Float, Int, Node, Output, Socket, String
from nodes.builtin.sd import embedding_finder

if TYPE_CHECKING:
    from engine.sd.clip import ClipTextModel
    from engine.sd.dual_clip import DualClip

MAX_RESOLUTION = 16384


def _size(name: str, default: int) -> InputSpec:
    return Int(name, default, min=0, max=MAX_RESOLUTION)


class CLIPTextEncodeSDXL(Node):
    """Encodes ``text_g`` with OpenCLIP-bigG and ``text_l`` with CLIP-L; the sizes tell the SDXL base model what
    image size and crop to imitate."""

    category = "advanced/conditioning"
    inputs = [Socket("clip", "CLIP"), _size("width", 1024), _size("height", 1024), _size("crop_w", 0),
              _size("crop_h", 0), _size("target_width", 1024), _size("target_height", 1024),
              String("text_g", multiline=True, dynamic_prompts=True),
              String("text_l", multiline=True, dynamic_prompts=True)]
    outputs = [Output("CONDITIONING")]

    def execute(self, clip: ClipTextModel | DualClip, width: int, height: int, crop_w: int, crop_h: int,
                target_width: int, target_height: int, text_g: str, text_l: str, context: ExecutionContext) -> tuple:
        if not hasattr(clip, "encode_pair"):
            raise ValueError("clip: CLIPTextEncodeSDXL needs SDXL base's two text encoders (CLIP-L and OpenCLIP-bigG); "
                             "this CLIP has one. Use CLIP Text Encode (Prompt) for SD1.x/SD2.x or "
                             "CLIPTextEncodeSDXLRefiner for the refiner")
        cond, pooled = clip.encode_pair(text_g, text_l, embedding_finder(context.folders))
        options = {"pooled_output": pooled, "width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                   "target_width": target_width, "target_height": target_height}
        return ([[cond, options]],)


class CLIPTextEncodeSDXLRefiner(Node):
    """Encodes a prompt for the SDXL refiner, with the aesthetic score (``ascore``) it was trained to follow."""

    category = "advanced/conditioning"
    inputs = [Float("ascore", 6.0, min=0.0, max=1000.0, step=0.01), _size("width", 1024), _size("height", 1024),
              String("text", multiline=True, dynamic_prompts=True), Socket("clip", "CLIP")]
    outputs = [Output("CONDITIONING")]

    def execute(self, ascore: float, width: int, height: int, text: str, clip: ClipTextModel,
                context: ExecutionContext) -> tuple:
        cond, pooled = clip.encode_text(text, embedding_finder(context.folders))
        options = {"pooled_output": pooled, "aesthetic_score": ascore, "width": width, "height": height}
        return ([[cond, options]],)


NODES = [CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner]
