"""GAN generators as nodes: load, generate, and walk between latents."""

from __future__ import annotations

import torch

from engine.gan import GANGenerator, load_gan
from engine.model_cache import MODEL_CACHE
from nodes.api import Combo, Float, Int, Node, Output, Socket, String, progress
from nodes.folders import folders

SEED_MAX = 0xFFFFFFFF  # NumPy's RandomState takes 32-bit seeds
CHUNK = 64


def gan_files() -> list[str]:
    return folders().list_models("gan", (".safetensors",))


class GANLoader(Node):
    """Loads a GAN generator (DCGAN or StyleGAN2/ADA) from models/gan."""

    display_name = "Load GAN"
    category = "loaders"
    inputs = [Combo("gan_name", gan_files)]
    outputs = [Output("GAN")]

    def execute(self, gan_name: str) -> tuple:
        return (MODEL_CACHE.get_or_load(folders().model_path("gan", gan_name), "gan", load_gan),)


class GANGeneratorNode(Node):
    """Generates images from seeds seed, seed+1, ...; truncation 0 gives the average image."""

    node_name = "GANGenerator"
    display_name = "GAN Generator"
    category = "gan"
    inputs = [Socket("gan", "GAN"), Int("seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
              Int("batch_size", 4, min=1, max=4096), Float("truncation", 1.0, min=0.0, max=2.0, step=0.01),
              Int("class_label", 0, min=0, max=100000, tooltip="Used by class-conditional generators only."),
              Combo("noise_mode", ["const", "random", "none"]),
              String("text", "", multiline=True, optional=True, tooltip="The caption, for text-to-image GANs "
                     "such as DF-GAN; other generators ignore it."),
              Int("truncation_cutoff", 0, min=0, max=64, optional=True, tooltip="StyleGAN2: truncate only the "
                  "first N layers' w (coarse features), as NVlabs' truncation_cutoff; 0 truncates all.")]
    outputs = [Output("IMAGE")]

    def execute(self, gan: GANGenerator, seed: int, batch_size: int, truncation: float, class_label: int,
                noise_mode: str, text: str = "", truncation_cutoff: int = 0) -> tuple:
        label = class_label if gan.num_classes else None
        images = []
        for start in range(0, batch_size, CHUNK):
            seeds = range(seed + start, seed + min(batch_size, start + CHUNK))
            images.append(gan.generate(list(seeds), truncation, label, text=text or None, noise_mode=noise_mode,
                                       truncation_cutoff=truncation_cutoff or None))
            progress(min(batch_size, start + CHUNK), batch_size)
        return (torch.cat(images),)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    a_unit, b_unit = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_unit * b_unit).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class GANLatentWalk(Node):
    """Frames interpolating between two seeds: spherical in z, linear in w (StyleGAN's style space)."""

    display_name = "GAN Latent Walk"
    category = "gan"
    inputs = [Socket("gan", "GAN"), Int("seed_a", 0, min=0, max=SEED_MAX), Int("seed_b", 1, min=0, max=SEED_MAX),
              Int("frames", 8, min=2, max=240), Combo("space", ["z", "w"]),
              Float("truncation", 1.0, min=0.0, max=2.0, step=0.01), Int("class_label", 0, min=0, max=100000),
              String("text", "", multiline=True, optional=True)]
    outputs = [Output("IMAGE")]

    def execute(self, gan: GANGenerator, seed_a: int, seed_b: int, frames: int, space: str, truncation: float,
                class_label: int, text: str = "") -> tuple:
        label = class_label if gan.num_classes else None
        z = gan.sample_z([seed_a, seed_b])
        steps = [i / (frames - 1) for i in range(frames)]
        has_w = gan.w_dim is not None
        if space == "w" and has_w:
            w = gan.mapping(z, label, truncation)
            latents = torch.stack([torch.lerp(w[0], w[1], t) for t in steps])
        elif space == "w":
            raise ValueError(f"{gan.kind} generators have no w space; walk in z")
        else:
            zs = torch.stack([slerp(z[0], z[1], t) for t in steps])
            latents = gan.mapping(zs, label, truncation) if has_w else zs * truncation
        frames_out = []
        for start in range(0, frames, CHUNK):
            frames_out.append(gan.synthesis(latents[start:start + CHUNK], "const", text or None))
            progress(min(frames, start + CHUNK), frames)
        return (torch.cat(frames_out),)


NODES = [GANLoader, GANGeneratorNode, GANLatentWalk]
