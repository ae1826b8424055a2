"""VQGAN files and the object the VQGAN socket carries.

Files: taming-transformers' Lightning checkpoints (``last.ckpt``: ``state_dict`` with ``loss.*`` beside the model,
read through ``engine.gan.lightning_ckpt`` without running pickled code), or ``.safetensors`` of the same keys
(``save_vqgan``; ``.pth``/``.pt`` state dicts are read weights-only).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from engine.gan.lightning_ckpt import checkpoint_tensors
from engine.gan.vqgan import VQGAN, model_tensors, to_image, to_model_input, vqgan_from_state_dict
from engine.sd.memory import module_bytes
from engine.sd.state_dict import WeightsFileError, load_state_dict

CHUNK = 8  # images per forward pass: a 256x256 image's activations are ~0.5 GB at f16's full width
Progress = Callable[[int, int], None]


class VQGANError(ValueError):
    """A file that is not a VQGAN we can load."""


class VQGANModel:
    """A loaded VQGAN: IMAGE in, codes, quantised latents and IMAGE out, a chunk of images at a time."""

    def __init__(self, network: VQGAN, name: str = "") -> None:
        self.network = network.eval().requires_grad_(False)
        self.name = name

    @property
    def config(self):  # noqa: ANN201 - VQGANConfig
        return self.network.config

    def memory_bytes(self) -> int:
        return module_bytes(self.network)

    def encode(self, images: torch.Tensor, progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantised latent [B, embed_dim, h, w], codes [B, h, w]) of IMAGE; sides are padded to the model's
        multiple (16 for f16) by repeating edge pixels."""
        x, _ = to_model_input(images, self.config.downscale)
        outputs = [self.network.encode(chunk) for chunk in self._chunks(x, progress)]
        return torch.cat([q for q, _ in outputs]), torch.cat([c for _, c in outputs])

    def decode(self, latent: torch.Tensor, quantize: bool = True, progress: Progress | None = None) -> torch.Tensor:
        """IMAGE from latents; ``quantize`` snaps them to the codebook first (a no-op on VQGANEncode's output)."""
        if quantize:
            latent = self.network.quantize.lookup(self.network.quantize.codes(latent.float()))
        images = [self.network.decode(chunk) for chunk in self._chunks(latent.float(), progress)]
        decoded = torch.cat(images)
        return to_image(decoded, tuple(decoded.shape[2:]))

    def decode_codes(self, codes: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        return self.decode(self.network.quantize.lookup(codes.long()), quantize=False, progress=progress)

    def reconstruct(self, images: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        """IMAGE -> encode, quantise, decode -> IMAGE of the same size."""
        x, size = to_model_input(images, self.config.downscale)
        return torch.cat([to_image(self.network(chunk), size) for chunk in self._chunks(x, progress)])

    @staticmethod
    def _chunks(x: torch.Tensor, progress: Progress | None):  # noqa: ANN205 - a generator of tensors
        with torch.no_grad():
            for start in range(0, len(x), CHUNK):
                yield x[start:start + CHUNK]
                if progress is not None:
                    progress(min(len(x), start + CHUNK), len(x))


def read_vqgan_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A Lightning ``.ckpt`` through ``lightning_ckpt``; other files as every weights file is read."""
    if path.suffix == ".ckpt":
        return checkpoint_tensors(path)
    try:
        return load_state_dict(path)
    except WeightsFileError as error:
        raise VQGANError(str(error)) from error


def load_vqgan(path: str | Path) -> VQGANModel:
    path = Path(path)
    sd = read_vqgan_tensors(path)
    try:
        return VQGANModel(vqgan_from_state_dict(sd), path.name)
    except (KeyError, RuntimeError) as error:
        raise VQGANError(f"{path.name} is not a taming-transformers VQGAN (VectorQuantizer) autoencoder: "
                         f"{error}") from error


def save_vqgan(model: VQGANModel | VQGAN, path: str | Path) -> None:
    """The autoencoder's tensors as safetensors (what ``load_vqgan`` reads back; ``loss.*`` is not kept)."""
    network = model.network if isinstance(model, VQGANModel) else model
    save_file({k: v.detach().contiguous() for k, v in model_tensors(network.state_dict()).items()}, str(path))
