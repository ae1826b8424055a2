"""The intermediate stages of the stacked text-to-image GANs (StackGAN++ 64²/128²/256², AttnGAN likewise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.api import ExecutionContext, Float, Int, Node, Output, Socket, String
from nodes.builtin.gan import SEED_MAX

if TYPE_CHECKING:
    from engine.gan.generator import GANGenerator


class GANStageImages(Node):
    """Images of one stage of a StackGAN++ or AttnGAN generator (1 = 64², 2 = 128², 3 = 256²; 0 = the last, as
    GAN Generator gives), from the same seeds and latents as GAN Generator."""

    display_name = "GAN Stage Images"
    category = "gan"
    inputs = [Socket("gan", "GAN"), Int("seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
              Int("batch_size", 4, min=1, max=4096), Float("truncation", 1.0, min=0.0, max=2.0, step=0.01),
              Int("stage", 0, min=0, max=8, tooltip="1 = the 64² stage, each next one doubles; 0 = the last."),
              String("text", "", multiline=True, optional=True, tooltip="AttnGAN: the caption; text-conditioned "
                     "StackGAN++: the row number (or stored caption) of a text embedding.")]
    outputs = [Output("IMAGE")]

    def execute(self, gan: GANGenerator, seed: int, batch_size: int, truncation: float, stage: int,
                text: str = "", *, context: ExecutionContext) -> tuple:
        from engine.gan.stacked import stage_images

        return (stage_images(gan, seed, batch_size, truncation, text or None, stage, progress=context.progress),)


NODES = [GANStageImages]
