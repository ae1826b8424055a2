"""LoRA and ControlNet: patches and guides on top of a loaded model (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from engine.canny import canny
from engine.controlnet import ControlNetHint, load_controlnet
from engine.lora import apply_lora, load_lora_file, model_key_map
from engine.model_cache import MODEL_CACHE
from nodes.api import Combo, Float, Node, NodeResult, Output, Socket
from nodes.folders import folders, model_choices

log = logging.getLogger(__name__)


def _lora(model: Any, clip: Any, lora_name: str, strength_model: float,
          strength_clip: float) -> NodeResult | tuple:
    if strength_model == 0 and strength_clip == 0:
        return (model, clip)
    lora = load_lora_file(folders().model_path("loras", lora_name), model_key_map(model, clip))
    new_model, new_clip = apply_lora(model, clip, lora, strength_model, strength_clip)
    if not lora.unmatched:
        return (new_model, new_clip)
    log.warning("%s: %d LoRA keys patch nothing: %s", lora_name, len(lora.unmatched), ", ".join(lora.unmatched[:10]))
    return NodeResult((new_model, new_clip), {"text": [f"lora key not loaded: {key}" for key in lora.unmatched]})


class LoraLoader(Node):
    """Patches the model and its text encoder with a LoRA; the loaded checkpoint itself is never modified."""

    display_name = "Load LoRA"
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Socket("clip", "CLIP"), Combo("lora_name", model_choices("loras")),
              Float("strength_model", 1.0, min=-100.0, max=100.0, step=0.01),
              Float("strength_clip", 1.0, min=-100.0, max=100.0, step=0.01)]
    outputs = [Output("MODEL"), Output("CLIP")]

    def execute(self, model: Any, clip: Any, lora_name: str, strength_model: float,
                strength_clip: float) -> NodeResult | tuple:
        return _lora(model, clip, lora_name, strength_model, strength_clip)


class LoraLoaderModelOnly(Node):
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Combo("lora_name", model_choices("loras")),
              Float("strength_model", 1.0, min=-100.0, max=100.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model: Any, lora_name: str, strength_model: float) -> NodeResult | tuple:
        result = _lora(model, None, lora_name, strength_model, 0.0)
        if isinstance(result, NodeResult):
            return NodeResult(result.outputs[:1], result.ui)
        return result[:1]


class ControlNetLoader(Node):
    display_name = "Load ControlNet Model"
    category = "loaders"
    inputs = [Combo("control_net_name", model_choices("controlnet"))]
    outputs = [Output("CONTROL_NET")]

    def execute(self, control_net_name: str) -> tuple:
        path = folders().model_path("controlnet", control_net_name)
        return (MODEL_CACHE.get_or_load(path, "controlnet", load_controlnet),)


class DiffControlNetLoader(Node):
    """Loads a ControlNet stored as differences from its base model's weights."""

    display_name = "Load ControlNet Model (diff)"
    category = "loaders"
    inputs = [Socket("model", "MODEL"), Combo("control_net_name", model_choices("controlnet"))]
    outputs = [Output("CONTROL_NET")]

    def execute(self, model: Any, control_net_name: str) -> tuple:
        net = load_controlnet(folders().model_path("controlnet", control_net_name))
        base = model.unet.state_dict()
        with torch.no_grad():
            for key, weight in net.state_dict().items():
                if key in base and base[key].shape == weight.shape:
                    weight.add_(base[key].to(weight))
        return (net,)


def apply_controlnet(conditioning: list, net: Any, image: torch.Tensor, strength: float,
                     start_percent: float = 0.0, end_percent: float = 1.0) -> list:
    """Each entry gets the ControlNet, chained after any it already carries."""
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

    def execute(self, conditioning: list, control_net: Any, image: torch.Tensor, strength: float) -> tuple:
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

    def execute(self, positive: list, negative: list, control_net: Any, image: torch.Tensor, strength: float,
                start_percent: float, end_percent: float, vae: Any = None) -> tuple:
        return (apply_controlnet(positive, control_net, image, strength, start_percent, end_percent),
                apply_controlnet(negative, control_net, image, strength, start_percent, end_percent))


class Canny(Node):
    """Edge map of an image, as a ControlNet hint."""

    category = "image/preprocessors"
    inputs = [Socket("image", "IMAGE"), Float("low_threshold", 0.4, min=0.01, max=0.99, step=0.01),
              Float("high_threshold", 0.8, min=0.01, max=0.99, step=0.01)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, low_threshold: float, high_threshold: float) -> tuple:
        return (canny(image, low_threshold, high_threshold),)


NODES = [LoraLoader, LoraLoaderModelOnly, ControlNetLoader, DiffControlNetLoader, ControlNetApply,
         ControlNetApplyAdvanced, Canny]
