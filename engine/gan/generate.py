"""Many images from a ``GANGenerator``: consecutive seeds and latent walks, a chunk at a time so memory stays
bounded, with progress after each chunk."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.gan.generator import GANGenerator

CHUNK = 64
Progress = Callable[[int, int], None]  # (images done, images in all)


def generate_images(gan: GANGenerator, first_seed: int, count: int, truncation: float = 1.0,
                    class_label: int | None = None, text: str | None = None, noise_mode: str = "const",
                    truncation_cutoff: int | None = None, progress: Progress | None = None) -> torch.Tensor:
    """IMAGE [count, H, W, 3] from seeds ``first_seed``, ``first_seed + 1``, ...; the label is used only by
    class-conditional generators."""
    label = class_label if gan.num_classes else None
    images = []
    for start in range(0, count, CHUNK):
        seeds = list(range(first_seed + start, first_seed + min(count, start + CHUNK)))
        images.append(gan.generate(seeds, truncation, label, text=text, noise_mode=noise_mode,
                                   truncation_cutoff=truncation_cutoff))
        if progress is not None:
            progress(min(count, start + CHUNK), count)
    return torch.cat(images)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (linear when ``a`` and ``b`` point the same way)."""
    a_unit, b_unit = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_unit * b_unit).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk_latents(gan: GANGenerator, seed_a: int, seed_b: int, frames: int, space: str, truncation: float = 1.0,
                 class_label: int | None = None) -> torch.Tensor:
    """The synthesis latents of ``frames`` steps from ``seed_a``'s image to ``seed_b``'s: spherical in z, linear in
    w (StyleGAN's style space, where straight lines give smooth walks)."""
    label = class_label if gan.num_classes else None
    z = gan.sample_z([seed_a, seed_b])
    steps = [i / (frames - 1) for i in range(frames)]
    has_w = gan.w_dim is not None
    if space == "w":
        if not has_w:
            raise ValueError(f"{gan.kind} generators have no w space; walk in z")
        w = gan.mapping(z, label, truncation)
        return torch.stack([torch.lerp(w[0], w[1], t) for t in steps])
    zs = torch.stack([slerp(z[0], z[1], t) for t in steps])
    return gan.mapping(zs, label, truncation) if has_w else zs * truncation


def synthesize(gan: GANGenerator, latents: torch.Tensor, text: str | None = None,
               progress: Progress | None = None) -> torch.Tensor:
    """IMAGE [len(latents), H, W, 3] from latents such as ``walk_latents`` gives."""
    frames = []
    for start in range(0, len(latents), CHUNK):
        frames.append(gan.synthesis(latents[start:start + CHUNK], "const", text))
        if progress is not None:
            progress(min(len(latents), start + CHUNK), len(latents))
    return torch.cat(frames)
