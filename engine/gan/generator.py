"""``GANGenerator``: the one object the GAN socket carries, whatever the architecture behind it.

Latents: ``sample_z`` draws each image's z from its own seed, so image ``i`` of a batch depends only on its own
seed. StyleGAN2 and StyleGAN3 use NumPy's ``RandomState(seed)`` as NVlabs' ``generate.py``/``gen_images.py`` do,
so seed N gives NVlabs' image N; the other kinds use ``torch.Generator().manual_seed(seed)`` (standard normal).

Truncation: StyleGAN2 and StyleGAN3 lerp w towards the stored ``mapping.w_avg`` (only the first
``truncation_cutoff`` layers' w when given, as NVlabs' option); DCGAN and DF-GAN (no w space) scale z, so
truncation 0 is the image of the mean latent for every kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from engine.gan.names import NOISE_MODES
from engine.sd.memory import module_bytes

STYLE_KINDS = ("stylegan2", "stylegan3")  # NVlabs' generators: NumPy seeds, a w space, synthesis(ws, noise_mode)


class GANGenerator:
    def __init__(self, kind: str, network: nn.Module, name: str = "") -> None:
        self.kind = kind  # "dcgan" | "stylegan2" | "stylegan3" | "dfgan" | ...
        self.network = network.eval().requires_grad_(False)
        self.name = name

    @property
    def z_dim(self) -> int:
        return int(self.network.z_dim)

    @property
    def w_dim(self) -> int | None:
        return getattr(self.network, "w_dim", None)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.network, "num_classes", 0))

    @property
    def resolution(self) -> int:
        return int(self.network.resolution)

    @property
    def needs_text(self) -> bool:
        return bool(getattr(self.network, "needs_text", False))

    def memory_bytes(self) -> int:
        return module_bytes(self.network)

    def sample_z(self, seeds: Sequence[int]) -> torch.Tensor:
        """z [B, z_dim], one random stream per seed."""
        if self.kind in STYLE_KINDS:
            return torch.from_numpy(np.stack([np.random.RandomState(int(seed) % 2**32).randn(self.z_dim)
                                              for seed in seeds])).float()
        return torch.stack([torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(seed)))
                            for seed in seeds])

    def labels(self, count: int, class_label: int | None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if class_label is None or not 0 <= class_label < self.num_classes:
            raise ValueError(f"this generator needs a class label in 0..{self.num_classes - 1}")
        return nn.functional.one_hot(torch.full((count,), class_label), self.num_classes).float()

    def mapping(self, z: torch.Tensor, class_label: int | None = None, truncation: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """w latents [B, num_ws, w_dim] (StyleGAN2 only)."""
        if self.w_dim is None:
            raise ValueError(f"{self.kind} has no mapping network (no w space)")
        with torch.no_grad():
            return self.network.mapping(z, self.labels(len(z), class_label), truncation, truncation_cutoff)

    def synthesis(self, latents: torch.Tensor, noise_mode: str = "const", text: str | None = None) -> torch.Tensor:
        """IMAGE [B, H, W, 3] in 0..1 from w (StyleGAN2) or z (DCGAN, DF-GAN with its caption)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        with torch.no_grad():
            images = self._run(latents, noise_mode, text)
        return to_image(images)

    def _run(self, latents: torch.Tensor, noise_mode: str, text: str | None) -> torch.Tensor:
        if self.kind in STYLE_KINDS:  # StyleGAN3 has no noise inputs: noise_mode changes nothing
            return self.network.synthesis(latents, noise_mode)
        if self.needs_text:
            if not text:
                raise ValueError(f"{self.name or self.kind} is text-conditioned: give it a caption")
            return self.network(latents, text)
        return self.network(latents)

    def generate(self, seeds: Sequence[int], truncation: float = 1.0, class_label: int | None = None,
                 text: str | None = None, noise_mode: str = "const",
                 truncation_cutoff: int | None = None) -> torch.Tensor:
        """IMAGE [len(seeds), H, W, 3] in 0..1 on the CPU. ``text`` is ignored by generators without text."""
        z = self.sample_z(seeds)
        if self.w_dim is not None:
            return self.synthesis(self.mapping(z, class_label, truncation, truncation_cutoff), noise_mode)
        return self.synthesis(z * truncation, noise_mode, text)


def to_image(images: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] in -1..1 -> IMAGE [B, H, W, 3] in 0..1 (grayscale repeated to RGB)."""
    images = (images.float().clamp(-1, 1) + 1) / 2
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    return images[:, :3].movedim(1, -1).cpu().contiguous()
