"""LoRA and ControlNet: patches and guides on top of a loaded model (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nodes.api import Combo, ExecutionContext, Float, Node, NodeResult, Output, Socket, model_choices

if TYPE_CHECKING:
    import torch

    from engine.controlnet import ControlNet
    from engine.sd.clip import ClipTextModel
    from engine.sd.dual_clip import DualClip
    from engine.sd.model import DiffusionModel
    from engine.sd.vae import VAE
    from engine.t2i_adapter import T2IAdapter

log = logging.getLogger(__name__)


def apply_lora_file(model: DiffusionModel | None, clip: ClipTextModel | DualClip | None, lora_name: str,
                    strength_model: float, strength_clip: float, context: ExecutionContext) -> NodeResult:
    """Clones of ``model`` and ``clip`` patched with the LoRA; keys that patch nothing are listed on the node."""
    from engine.lora import apply_lora, model_key_map, parse_lora
    from engine.sd.state_dict import load_state_dict

    if strength_model == 0 and strength_clip == 0:
        return NodeResult((model, clip))
    path = context.folders.model_path("loras", lora_name)
    lora = parse_lora(context.models.load(path, "lora", load_state_dict), model_key_map(model, clip))
    patched = apply_lora(model, clip, lora, strength_model, strength_clip)
    if not lora.unmatched:
        return NodeResult(patched)
    log.warning("%s: %d LoRA keys patch nothing: %s", lora_name, len(lora.unmatched), ", ".join(lora.unmatched[:10]))
    return NodeResult(patched, {"text": [f"lora key not loaded: {key}" for key in lora.unmatched]})


class LoraLoader(Node):
    """Patches the model and its text encoder with a LoRA; the loaded checkpoint itself is never modified."""

    display_name = "Load LoRA"
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Socket("clip", "CLIP"), Combo("lora_name", model_choices("loras")),
              Float("strength_model", 1.0, min=-100.0, max=100.0, step=0.01),
              Float("strength_clip", 1.0, min=-100.0, max=100.0, step=0.01)]
    outputs = [Output("MODEL"), Output("CLIP")]

    def execute(self, model: DiffusionModel, clip: ClipTextModel | DualClip, lora_name: str, strength_model: float,
                strength_clip: float, context: ExecutionContext) -> NodeResult:
        return apply_lora_file(model, clip, lora_name, strength_model, strength_clip, context)


class LoraLoaderModelOnly(Node):
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Combo("lora_name", model_choices("loras")),
              Float("strength_model", 1.0, min=-100.0, max=100.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model: DiffusionModel, lora_name: str, strength_model: float,
                context: ExecutionContext) -> NodeResult:
        result = apply_lora_file(model, None, lora_name, strength_model, 0.0, context)
        return NodeResult(result.outputs[:1], result.ui)


def load_controlnet_file(name: str, context: ExecutionContext) -> ControlNet | T2IAdapter:
    from engine.controlnet import load_controlnet

    return context.models.load(context.folders.model_path("controlnet", name), "controlnet", load_controlnet)


class ControlNetLoader(Node):
    display_name = "Load ControlNet Model"
    category = "loaders"
    inputs = [Combo("control_net_name", model_choices("controlnet"))]
    outputs = [Output("CONTROL_NET")]

    def execute(self, control_net_name: str, context: ExecutionContext) -> tuple:
        return (load_controlnet_file(control_net_name, context),)


class DiffControlNetLoader(Node):
    """Loads a ControlNet stored as differences from its base model's weights."""

    display_name = "Load ControlNet Model (diff)"
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Combo("control_net_name", model_choices("controlnet"))]
    outputs = [Output("CONTROL_NET")]

    def execute(self, model: DiffusionModel, control_net_name: str, context: ExecutionContext) -> tuple:
        from engine.controlnet_diff import controlnet_from_diff

        return (controlnet_from_diff(load_controlnet_file(control_net_name, context), model.unet),)


def apply_controlnet(conditioning: list, net: ControlNet | T2IAdapter, image: torch.Tensor, strength: float,
                     start_percent: float = 0.0, end_percent: float = 1.0) -> list:
    """Each entry gets the ControlNet, chained after any it already carries."""
    from engine.controlnet import ControlNetHint

    if strength == 0:
        return conditioning
    out = []
    for cond, options in conditioning:
        hint = ControlNetHint(net, image, strength, start_percent, end_percent, previous=options.get("control"))
        out.append([cond, {**options, "control": hint}])
    return out


class ControlNetApply(Node):
    display_name = "Apply ControlNet (OLD)"
    category = "conditioning/controlnet"
    deprecated = True
    inputs = [Socket("conditioning", "CONDITIONING"), Socket("control_net", "CONTROL_NET"), Socket("image", "IMAGE"),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.01)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: list, control_net: ControlNet | T2IAdapter, image: torch.Tensor,
                strength: float) -> tuple:
        return (apply_controlnet(conditioning, control_net, image, strength),)


class ControlNetApplyAdvanced(Node):
    """Guides sampling with a ControlNet over part of the schedule, on both positive and negative prompts."""

    display_name = "Apply ControlNet"
    category = "conditioning/controlnet"
    inputs = [Socket("positive", "CONDITIONING"), Socket("negative", "CONDITIONING"),
              Socket("control_net", "CONTROL_NET"), Socket("image", "IMAGE"),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.01),
              Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001),
              Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001), Socket("vae", "VAE", optional=True)]
    outputs = [Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative")]

    def execute(self, positive: list, negative: list, control_net: ControlNet | T2IAdapter, image: torch.Tensor,
                strength: float, start_percent: float, end_percent: float, vae: VAE | None = None) -> tuple:
        # ``vae`` is accepted for ComfyUI's workflows; the ControlNets Atelier runs take the hint image itself.
        return (apply_controlnet(positive, control_net, image, strength, start_percent, end_percent),
                apply_controlnet(negative, control_net, image, strength, start_percent, end_percent))


class Canny(Node):
    """Edge map of an image, as a ControlNet hint."""

    category = "image/preprocessors"
    inputs = [Socket("image", "IMAGE"), Float("low_threshold", 0.4, min=0.01, max=0.99, step=0.01),
              Float("high_threshold", 0.8, min=0.01, max=0.99, step=0.01)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, low_threshold: float, high_threshold: float) -> tuple:
        from engine.canny import canny

        return (canny(image, low_threshold, high_threshold),)


NODES = [LoraLoader, LoraLoaderModelOnly, ControlNetLoader, DiffControlNetLoader, ControlNetApply,
         ControlNetApplyAdvanced, Canny]
