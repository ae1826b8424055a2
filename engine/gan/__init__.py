"""GAN generators behind one interface: the GAN socket carries a ``GANGenerator``.

Files are ``.safetensors`` in ``models/gan/``; the architecture is read from the tensor names and shapes
(DCGAN's ``main.*``, StyleGAN2's ``mapping.*``/``synthesis.*``), with settings shapes cannot tell in the file's
metadata (written by ``save_gan`` and by the pickle converter).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.gan.dcgan import DCGANGenerator, detect_dcgan
from engine.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator, detect_stylegan2


class GANError(ValueError):
    """A file that is not a GAN generator we can load."""


class GANGenerator:
    def __init__(self, kind: str, network: torch.nn.Module, name: str = "") -> None:
        self.kind = kind
        self.network = network.eval().requires_grad_(False)
        self.name = name

    @property
    def z_dim(self) -> int:
        net = self.network
        return net.config.z_dim if self.kind == "stylegan2" else net.nz  # type: ignore[union-attr]

    @property
    def w_dim(self) -> int | None:
        return self.network.config.w_dim if self.kind == "stylegan2" else None  # type: ignore[union-attr]

    @property
    def num_classes(self) -> int:
        return self.network.config.c_dim if self.kind == "stylegan2" else 0  # type: ignore[union-attr]

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.network.state_dict().values())

    def sample_z(self, seeds: Sequence[int]) -> torch.Tensor:
        """One latent per seed: NumPy's RandomState for StyleGAN (as NVlabs' generate.py), torch otherwise."""
        if self.kind == "stylegan2":
            return torch.from_numpy(np.stack([np.random.RandomState(s).randn(self.z_dim) for s in seeds])).float()
        return torch.stack([torch.randn(self.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])

    def labels(self, count: int, class_label: int | None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if class_label is None or not 0 <= class_label < self.num_classes:
            raise ValueError(f"this generator needs a class label in 0..{self.num_classes - 1}")
        return torch.nn.functional.one_hot(torch.full((count,), class_label), self.num_classes).float()

    def mapping(self, z: torch.Tensor, class_label: int | None = None, truncation: float = 1.0) -> torch.Tensor:
        """w latents [B, num_ws, w_dim] (StyleGAN2 only)."""
        if self.kind != "stylegan2":
            raise ValueError(f"{self.kind} has no mapping network (no w space)")
        with torch.no_grad():
            return self.network.mapping(z, self.labels(len(z), class_label), truncation)  # type: ignore[operator]

    def synthesis(self, latents: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """IMAGE [B, H, W, 3] in 0..1 from w (StyleGAN2) or z (DCGAN)."""
        with torch.no_grad():
            if self.kind == "stylegan2":
                images = self.network.synthesis(latents, noise_mode)  # type: ignore[operator]
            else:
                images = self.network(latents)
        images = (images.float().clamp(-1, 1) + 1) / 2
        if images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        return images[:, :3].movedim(1, -1).cpu()

    def generate(self, seeds: Sequence[int], truncation: float = 1.0, class_label: int | None = None,
                 noise_mode: str = "const") -> torch.Tensor:
        z = self.sample_z(seeds)
        if self.kind == "stylegan2":
            return self.synthesis(self.mapping(z, class_label, truncation), noise_mode)
        return self.synthesis(z * truncation if truncation != 1 else z)


def gan_from_state_dict(sd: dict[str, torch.Tensor], metadata: dict[str, str] | None = None,
                        name: str = "") -> GANGenerator:
    metadata = metadata or {}
    try:
        config = detect_stylegan2(sd, json.loads(metadata.get("conv_clamp", "256")))
        network: torch.nn.Module = StyleGAN2Generator(config)
        kind = "stylegan2"
    except KeyError:
        try:
            network = DCGANGenerator(**detect_dcgan(sd))
            kind = "dcgan"
        except KeyError as error:
            raise GANError(f"{name or 'this file'} is not a known GAN generator: expected DCGAN (main.N.*) or "
                           "StyleGAN2 (mapping.*, synthesis.bN.*) tensors") from error
    missing, unexpected = network.load_state_dict(sd, strict=False)
    problems = [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)
    if problems:
        raise GANError(f"{name}: tensors do not fit a {kind} generator: {problems[:5]}")
    return GANGenerator(kind, network, name)


def load_gan(path: str | Path) -> GANGenerator:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise GANError(f"{path.name}: GAN files are .safetensors (convert network pickles with "
                       "`python -m engine.gan.convert_pickle`)")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    return gan_from_state_dict(load_file(str(path)), metadata, path.name)


def save_gan(generator: GANGenerator, path: str | Path) -> None:
    metadata = {"atelier_gan": generator.kind}
    config = getattr(generator.network, "config", None)
    if config is not None:
        metadata["config"] = json.dumps(asdict(config))
        metadata["conv_clamp"] = json.dumps(config.conv_clamp)
    tensors = {k: v.contiguous() for k, v in generator.network.state_dict().items()}
    save_file(tensors, str(path), metadata=metadata)


__all__ = ["GANError", "GANGenerator", "StyleGAN2Config", "load_gan", "save_gan"]
