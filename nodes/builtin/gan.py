"""GAN generators as nodes: load, generate, and walk between latents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.gan.names import GAN_EXTENSIONS, NOISE_MODES
from nodes.api import Combo, ExecutionContext, Float, Folders, Int, Node, Output, Socket, String

if TYPE_CHECKING:
    from engine.gan.generator import GANGenerator

SEED_MAX = 0xFFFFFFFF  # NumPy's RandomState takes 32-bit seeds


def gan_files(folders: Folders) -> list[str]:
    return folders.list_models("gan", GAN_EXTENSIONS)


class GANLoader(Node):
    """Loads a GAN generator (DCGAN or StyleGAN2/ADA) from models/gan."""

    display_name = "Load GAN"
    category = "loaders"
    inputs = [Combo("gan_name", gan_files)]
    outputs = [Output("GAN")]

    def execute(self, gan_name: str, context: ExecutionContext) -> tuple:
        from engine.gan.files import load_gan

        return (context.models.load(context.folders.model_path("gan", gan_name), "gan", load_gan),)


class GANGeneratorNode(Node):
    """Generates images from seeds seed, seed+1, ...; truncation 0 gives the average image."""

    node_name = "GANGenerator"
    display_name = "GAN Generator"
    category = "gan"
    inputs = [Socket("gan", "GAN"), Int("seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
              Int("batch_size", 4, min=1, max=4096), Float("truncation", 1.0, min=0.0, max=2.0, step=0.01),
              Int("class_label", 0, min=0, max=100000, tooltip="Used by class-conditional generators only."),
              Combo("noise_mode", NOISE_MODES),
              String("text", "", multiline=True, optional=True, tooltip="The caption, for text-to-image GANs "
                     "such as DF-GAN; other generators ignore it."),
              Int("truncation_cutoff", 0, min=0, max=64, optional=True, tooltip="StyleGAN2: truncate only the "
                  "first N layers' w (coarse features), as NVlabs' truncation_cutoff; 0 truncates all.")]
    outputs = [Output("IMAGE")]

    def execute(self, gan: GANGenerator, seed: int, batch_size: int, truncation: float, class_label: int,
                noise_mode: str, text: str = "", truncation_cutoff: int = 0, *, context: ExecutionContext) -> tuple:
        from engine.gan.generate import generate_images

        return (generate_images(gan, seed, batch_size, truncation, class_label, text=text or None,
                                noise_mode=noise_mode, truncation_cutoff=truncation_cutoff or None,
                                progress=context.progress),)


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
                class_label: int, text: str = "", *, context: ExecutionContext) -> tuple:
        from engine.gan.generate import synthesize, walk_latents

        latents = walk_latents(gan, seed_a, seed_b, frames, space, truncation, class_label)
        return (synthesize(gan, latents, text or None, progress=context.progress),)


NODES = [GANLoader, GANGeneratorNode, GANLatentWalk]
