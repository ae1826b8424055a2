"""Image-to-image GANs (CycleGAN, pix2pix): read a generator file, translate IMAGE batches as the reference's
``test.py`` does.

Pre-processing (the reference's test options: ``--preprocess resize_and_crop`` with ``load_size = crop_size =
256``): each image as 8-bit RGB (greyscale ``L`` for one-channel generators), resized bicubically by PIL to
``size`` x ``size`` (``size`` 0: its own size, each side rounded to the network's multiple as ``--preprocess
none`` does), then to [-1, 1] with ``Normalize(0.5, 0.5)``. Post-processing: tanh's [-1, 1] back to 0..1 (the
reference's ``tensor2im``; saving truncates to 8 bits as it does).

Modes: ``eval`` uses BatchNorm's running statistics and no dropout; ``train`` is what ``test.py`` runs without
``--eval``, which is how pix2pix's published results were made: each image normalised by its own statistics (batch
size 1) and dropout on, drawn from ``torch.manual_seed(seed + i)`` for image ``i``. Instance-norm generators
without dropout (CycleGAN's) give the same images in both modes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from engine.gan.cyclegan import (
    TranslatorSpec,
    build_translator_network,
    detect_spec,
    is_translator,
    reference_state_dict,
    strip_module_prefix,
)
from engine.gan.files import GANError, json_beside, read_settings
from engine.gan.generator import to_image
from engine.gan.names import TRANSLATE_MODES
from engine.sd.memory import module_bytes
from engine.sd.state_dict import WeightsFileError, load_state_dict

EVAL_CHUNK = 8  # images per forward pass in eval mode (train mode runs one at a time, as the reference)
Progress = Callable[[int, int], None]  # (images done, images in all)


class ImageTranslator:
    """The value of the IMAGE_TO_IMAGE_GAN socket: a CycleGAN or pix2pix generator, IMAGE -> IMAGE."""

    def __init__(self, spec: TranslatorSpec, network: nn.Module, name: str = "") -> None:
        self.spec = spec
        self.network = network.eval().requires_grad_(False)
        self.name = name

    def memory_bytes(self) -> int:
        return module_bytes(self.network)

    def side(self, length: int) -> int:
        """The nearest side the network takes (a multiple of ``spec.multiple``, at least one)."""
        multiple = self.spec.multiple
        return max(multiple, round(length / multiple) * multiple)

    def prepare(self, image: torch.Tensor, size: int) -> torch.Tensor:
        """One IMAGE [H, W, C] 0..1 -> the network's input [1, input_nc, h, w] in -1..1."""
        pil = Image.fromarray(to_uint8(image), "RGB")
        if self.spec.input_nc == 1:
            pil = pil.convert("L")
        width, height = (size, size) if size else (pil.width, pil.height)
        target = (self.side(width), self.side(height))
        if pil.size != target:
            pil = pil.resize(target, Image.BICUBIC)
        array = np.asarray(pil, dtype=np.float32).reshape(target[1], target[0], -1) / 255.0
        return (torch.from_numpy(array.copy()).movedim(-1, 0)[None] - 0.5) / 0.5

    def translate(self, images: torch.Tensor, size: int = 256, mode: str = "eval", seed: int = 0,
                  progress: Progress | None = None) -> torch.Tensor:
        """IMAGE [B, H, W, 3] -> IMAGE [B, h, w, 3] (h, w: ``size`` rounded to the network's multiple)."""
        if mode not in TRANSLATE_MODES:
            raise ValueError(f"mode must be one of {TRANSLATE_MODES}, not {mode!r}")
        inputs = torch.cat([self.prepare(image, size) for image in images])
        chunk = 1 if mode == "train" else EVAL_CHUNK
        outputs = []
        for start in range(0, len(inputs), chunk):
            outputs.append(self.run(inputs[start:start + chunk], mode, seed + start))
            if progress is not None:
                progress(min(len(inputs), start + chunk), len(inputs))
        return to_image(torch.cat(outputs))

    def run(self, x: torch.Tensor, mode: str, seed: int) -> torch.Tensor:
        """The network on inputs in -1..1; in train mode the dropout masks come from ``torch.manual_seed(seed)``."""
        with torch.no_grad():
            if mode == "eval":
                return self.network(x)
            with train_mode(self.network, seed):
                return self.network(x)


@contextmanager
def train_mode(network: nn.Module, seed: int) -> Iterator[None]:
    """Train-mode layers and a seeded global RNG (dropout draws from it), both restored afterwards."""
    network.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        network.eval()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """IMAGE [H, W, C] 0..1 -> [H, W, 3] uint8, rounded (so 8-bit images come back exactly)."""
    array = np.clip(np.rint(image.detach().float().cpu().numpy() * 255.0), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = array.repeat(3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def translator_from_state_dict(sd: dict[str, torch.Tensor], settings: dict[str, Any] | None = None,
                               name: str = "") -> ImageTranslator:
    """``settings`` may say ``{"use_dropout": false}`` for a U-Net trained with ``--no_dropout``."""
    sd = strip_module_prefix(sd)
    if not is_translator(sd):
        raise GANError(f"{name or 'this file'} is not a CycleGAN/pix2pix generator (expected model.N.* ResNet or "
                       "model.model.* U-Net tensors of pytorch-CycleGAN-and-pix2pix)")
    try:
        spec = detect_spec(sd, bool((settings or {}).get("use_dropout", True)))
    except KeyError as error:
        raise GANError(f"{name}: tensors missing for a CycleGAN/pix2pix generator: {error}") from error
    if spec.input_nc not in (1, 3) or spec.output_nc not in (1, 3):
        raise GANError(f"{name}: {spec.input_nc} -> {spec.output_nc} channels; only RGB or greyscale images "
                       "are supported")
    network = build_translator_network(spec)
    try:
        missing, unexpected = network.load_state_dict(reference_state_dict(sd, spec), strict=False)
    except RuntimeError as error:  # shapes that disagree with the detected architecture
        raise GANError(f"{name}: tensors do not fit a {spec.name} generator ({spec.norm} norm): {error}") from error
    problems = [key for key in missing if not key.endswith("num_batches_tracked")] + list(unexpected)
    if problems:
        raise GANError(f"{name}: tensors do not fit a {spec.name} generator ({spec.norm} norm): {problems[:5]}")
    return ImageTranslator(spec, network, name)


def load_translator(path: str | Path) -> ImageTranslator:
    """A ``.pth`` state dict (read weights-only: no code runs) or ``.safetensors``; settings from ``<name>.json``
    beside the file (and a safetensors file's metadata)."""
    path = Path(path)
    try:
        sd = load_state_dict(path)
    except WeightsFileError as error:
        raise GANError(str(error)) from error
    settings = read_settings(path) if path.suffix == ".safetensors" else json_beside(path)
    return translator_from_state_dict(sd, settings, path.name)
