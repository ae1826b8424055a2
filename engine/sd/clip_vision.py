"""CLIP vision encoders (OpenAI's ViT-L/14, OpenCLIP's ViT-H/14 and ViT-bigG/14) as ComfyUI's ``comfy.clip_vision``
runs them: CLIPVisionEncode, unCLIP, style models and IP-Adapters read their output.

The network is transformers' ``CLIPVisionModelWithProjection``; sizes are read from tensor shapes (so tiny test
models load through the same code), attention heads and activation from the width as ComfyUI's configs set them
(16 heads for the published towers; quick-GELU for OpenAI's ViT-L, GELU for OpenCLIP's). Images are prepared as
ComfyUI's ``clip_preprocess`` prepares them: bicubic antialiased resize of the short side to 224 and a centre
crop (or a squash to 224x224 with ``crop=False``), rounded to 8 bits, then CLIP's mean and std. The output holds
``image_embeds`` (projected, post-norm class token), ``last_hidden_state`` (the last layer, not normed) and
``penultimate_hidden_states`` (the layer before it).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from engine.device import AUTO, Devices
from engine.sd.clip_vision_convert import vision_tower
from engine.sd.materialize import shared_compute_copy
from engine.sd.memory import module_bytes

IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)
PUBLISHED_HEADS = {1024: 16, 1280: 16, 1664: 16}  # ViT-L/14, ViT-H/14, ViT-bigG/14: heads are not in the shapes
QUICK_GELU_WIDTH = 1024  # OpenAI's ViT-L/14 (ComfyUI's clip_vision_config_vitl.json); the OpenCLIP towers use GELU


class ClipVisionError(ValueError):
    """A file that holds no CLIP vision tower Atelier can run; the message says what was found."""


class ClipVisionOutput(dict):
    """ComfyUI's ``comfy.clip_vision.Output``: read as ``output.image_embeds`` or ``output["image_embeds"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def clip_preprocess(image: torch.Tensor, size: int = 224, mean: tuple[float, ...] = IMAGE_MEAN,
                    std: tuple[float, ...] = IMAGE_STD, crop: bool = True) -> torch.Tensor:
    """IMAGE [B,H,W,C] 0..1 -> normalised pixels [B,3,size,size], exactly as ComfyUI's ``clip_preprocess``."""
    pixels = image[..., :3].movedim(-1, 1)
    if pixels.shape[-2:] != (size, size):
        if crop:
            scale = size / min(pixels.shape[2], pixels.shape[3])
            target = (round(scale * pixels.shape[2]), round(scale * pixels.shape[3]))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (pixels.shape[2] - size) // 2, (pixels.shape[3] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]
    pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
    mean_t = torch.tensor(mean, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
    return (pixels - mean_t) / std_t


def vision_config(sd: Mapping[str, torch.Tensor]) -> CLIPVisionConfig:
    """The tower's sizes from transformers-named tensors (``vision_model.*``, ``visual_projection.weight``)."""
    if "vision_model.embeddings.class_embedding" not in sd:
        raise ClipVisionError("no CLIP vision tower: expected vision_model.embeddings.class_embedding (SigLIP and "
                              f"DINOv2 image encoders are not supported); found e.g. {sorted(sd)[:5]}")
    if "visual_projection.weight" not in sd:
        raise ClipVisionError("the CLIP vision tower has no projection (visual_projection.weight or proj)")
    hidden = int(sd["vision_model.embeddings.class_embedding"].shape[0])
    patch = int(sd["vision_model.embeddings.patch_embedding.weight"].shape[-1])
    positions = int(sd["vision_model.embeddings.position_embedding.weight"].shape[0])
    layers = {int(m.group(1)) for key in sd if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", key))}
    return CLIPVisionConfig(
        hidden_size=hidden, intermediate_size=int(sd["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        num_hidden_layers=max(layers) + 1, num_attention_heads=vision_heads(hidden),
        image_size=patch * math.isqrt(positions - 1), patch_size=patch,
        projection_dim=int(sd["visual_projection.weight"].shape[0]), layer_norm_eps=1e-5,
        hidden_act="quick_gelu" if hidden == QUICK_GELU_WIDTH else "gelu",
    )


def vision_heads(hidden: int) -> int:
    """16 for the published towers; 64-wide heads for other widths, 16-wide below 64 (tiny test models)."""
    if hidden in PUBLISHED_HEADS:
        return PUBLISHED_HEADS[hidden]
    return hidden // 64 if hidden >= 64 and hidden % 64 == 0 else max(1, hidden // 16)


class ClipVision:
    """A CLIP vision encoder (ComfyUI's ``ClipVisionModel``): ``encode_image(image, crop=True)``."""

    def __init__(self, model: CLIPVisionModelWithProjection, devices: Devices = AUTO) -> None:
        self.model = model  # storage copy; never modified
        self.devices = devices
        self.image_size = int(model.config.image_size)
        self.image_mean, self.image_std = list(IMAGE_MEAN), list(IMAGE_STD)
        self._shared: dict[str, Any] = {"compute": None}

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    def memory_bytes(self) -> int:
        return module_bytes(self.model)

    def get_sd(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())

    def load_sd(self, sd: Mapping[str, torch.Tensor]) -> Any:
        raise NotImplementedError("Atelier's CLIP vision weights are read once from their file; load a file with "
                                  "comfy.clip_vision.load instead of replacing weights")

    def clone(self) -> ClipVision:
        return copy.copy(self)

    def _compute_model(self) -> CLIPVisionModelWithProjection:
        return shared_compute_copy(self.model, self.devices, self._shared)

    def encode_image(self, image: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
        """IMAGE [B,H,W,C] -> ``image_embeds`` [B,proj], ``last_hidden_state`` and ``penultimate_hidden_states``
        [B,tokens,width] (float32, on the CPU)."""
        model = self._compute_model()
        parameter = next(model.parameters())
        pixels = clip_preprocess(image.float(), self.image_size, crop=crop)
        with torch.no_grad():
            out = model(pixel_values=pixels.to(parameter.device, parameter.dtype), output_hidden_states=True)
        return ClipVisionOutput(image_embeds=out.image_embeds.float().cpu(),
                                last_hidden_state=out.last_hidden_state.float().cpu(),
                                penultimate_hidden_states=out.hidden_states[-2].float().cpu(),
                                mm_projected=None)


def clip_vision_from_state_dict(sd: Mapping[str, torch.Tensor], prefix: str = "",
                                devices: Devices = AUTO) -> ClipVision:
    """A ``ClipVision`` from the tower under ``prefix`` in any layout ``clip_vision_convert`` reads; the weights
    are adopted, not copied."""
    tower = vision_tower(sd, prefix)
    config = vision_config(tower)
    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(config)
    own = set(model.state_dict())
    missing = sorted(own - set(tower))
    if missing:
        raise ClipVisionError(f"CLIP vision weights missing: {', '.join(missing[:5])}")
    model.load_state_dict({k: v for k, v in tower.items() if k in own}, strict=True, assign=True)
    embeddings = model.vision_model.embeddings
    if "position_ids" in dict(embeddings.named_buffers()):
        embeddings.register_buffer("position_ids", torch.arange(embeddings.num_positions)[None], persistent=False)
    return ClipVision(model.eval().requires_grad_(False), devices)


def read_clip_vision(path: str | Path, devices: Devices = AUTO) -> ClipVision:
    """A CLIP vision file (transformers' names, or a full OpenAI/OpenCLIP model under ``visual.``), read afresh."""
    from engine.sd.components import model_dtypes, read_weights

    path = Path(path)
    sd = read_weights(path, model_dtypes(devices))
    prefix = "visual." if "visual.transformer.resblocks.0.attn.in_proj_weight" in sd else ""
    try:
        return clip_vision_from_state_dict(sd, prefix, devices)
    except (ClipVisionError, KeyError) as e:
        raise ClipVisionError(f"{path}: {e}") from e
