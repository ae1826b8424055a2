"""CLIP score: how well images match their prompt, as torchmetrics computes it (Hessel et al. 2021):
``max(100 * cos(E_image, E_text), 0)`` per image, with a CLIP model's image and text embeddings.

The model is a Hugging Face CLIP folder (``config.json`` + ``model.safetensors``, e.g. openai/clip-vit-base-patch32)
placed in ``models/fid/``. Images are prepared as CLIPImageProcessor does: bicubic resize of the shortest edge,
centre crop, CLIP's mean and standard deviation (read from ``preprocessor_config.json`` when present).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPModel

from engine import image_ops
from engine.sd.tokenizer import BOS, EOS, encode_text

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImagePreparation:
    shortest_edge: int
    crop: int
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """One IMAGE [H, W, C] 0..1 -> [3, crop, crop] normalised."""
        pil = image_ops.to_pil(image[..., :3])
        short, long = min(pil.size), max(pil.size)
        stretched = int(self.shortest_edge * long / short)
        size = (self.shortest_edge, stretched) if pil.width <= pil.height else (stretched, self.shortest_edge)
        pil = pil.resize(size, Image.BICUBIC)
        left, top = (pil.width - self.crop) // 2, (pil.height - self.crop) // 2
        pixels = np.asarray(pil.crop((left, top, left + self.crop, top + self.crop)), dtype=np.float32) / 255.0
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return torch.from_numpy((pixels - mean) / std).permute(2, 0, 1)


class ClipScorer:
    def __init__(self, model: CLIPModel, preparation: ImagePreparation) -> None:
        self.model = model.eval().requires_grad_(False)
        self.preparation = preparation

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        pixels = torch.stack([self.preparation(image) for image in images])
        with torch.no_grad():
            return _unit(_as_tensor(self.model.get_image_features(pixel_values=pixels)))

    def text_features(self, texts: list[str]) -> torch.Tensor:
        length = self.model.config.text_config.max_position_embeddings
        rows = [[BOS, *encode_text(text)][:length - 1] + [EOS] for text in texts]
        ids = torch.full((len(rows), max(map(len, rows))), EOS, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for index, row in enumerate(rows):
            ids[index, :len(row)] = torch.tensor(row)
            mask[index, :len(row)] = 1
        with torch.no_grad():
            return _unit(_as_tensor(self.model.get_text_features(input_ids=ids, attention_mask=mask)))

    def scores(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """Per-image CLIP score [B] for IMAGE [B, H, W, C]; one prompt for all, or one per image."""
        if len(prompts) not in (1, len(images)):
            raise ValueError(f"{len(prompts)} prompts for {len(images)} images: give one, or one per image")
        similarity = (self.image_features(images) * self.text_features(prompts)).sum(dim=-1)
        return (100 * similarity).clamp(min=0)


def _as_tensor(output: object) -> torch.Tensor:
    # transformers 5 returns a model output object where earlier versions returned the projected tensor.
    return output if isinstance(output, torch.Tensor) else output.pooler_output  # type: ignore[attr-defined]


def _unit(features: torch.Tensor) -> torch.Tensor:
    return features.float() / features.float().norm(dim=-1, keepdim=True)


def load_clip_scorer(folder: Path) -> ClipScorer:
    """A CLIP model from a local Hugging Face folder; safetensors only, nothing is downloaded."""
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder} needs config.json and model.safetensors of a Hugging Face CLIP model "
                                "(e.g. openai/clip-vit-base-patch32)")
    model = CLIPModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    return ClipScorer(model, _preparation(folder, model.config.vision_config.image_size))


def _preparation(folder: Path, image_size: int) -> ImagePreparation:
    config_path = folder / "preprocessor_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    size = config.get("size", image_size)
    crop = config.get("crop_size", image_size)
    return ImagePreparation(
        shortest_edge=size.get("shortest_edge", image_size) if isinstance(size, dict) else int(size),
        crop=crop.get("height", image_size) if isinstance(crop, dict) else int(crop),
        mean=tuple(config.get("image_mean", OPENAI_MEAN)), std=tuple(config.get("image_std", OPENAI_STD)))
