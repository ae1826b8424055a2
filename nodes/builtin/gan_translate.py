"""Image-to-image GANs as nodes: load a CycleGAN or pix2pix generator and translate images with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.gan.names import TRANSLATE_MODES, TRANSLATOR_EXTENSIONS
from nodes.api import Combo, ExecutionContext, Folders, Int, Node, Output, Socket

if TYPE_CHECKING:
    import torch

    from engine.gan.translate import ImageTranslator

TRANSLATOR = "IMAGE_TO_IMAGE_GAN"
SEED_MAX = 0xFFFFFFFF  # as the other GAN nodes


def translator_files(folders: Folders) -> list[str]:
    return folders.list_models("gan", TRANSLATOR_EXTENSIONS)


class ImageToImageGANLoader(Node):
    """Loads a CycleGAN or pix2pix generator (pytorch-CycleGAN-and-pix2pix's *_net_G.pth, read weights-only) from
    models/gan; the architecture (resnet_6/9blocks, unet_128/256) and norm come from its tensors."""

    display_name = "Load Image-to-Image GAN (CycleGAN, pix2pix)"
    category = "loaders"
    inputs = [Combo("gan_name", translator_files)]
    outputs = [Output(TRANSLATOR)]

    def execute(self, gan_name: str, context: ExecutionContext) -> tuple:
        from engine.gan.translate import load_translator

        path = context.folders.model_path("gan", gan_name)
        return (context.models.load(path, "image-to-image gan", load_translator),)


class GANImageToImage(Node):
    """Translates images (horse -> zebra, labels -> facade, ...) with the reference's pre- and post-processing."""

    display_name = "GAN Image to Image"
    category = "gan"
    inputs = [Socket("gan", TRANSLATOR), Socket("image", "IMAGE"),
              Int("size", 256, min=0, max=4096, tooltip="Images are resized (bicubic) to size x size, as the "
                  "reference's test options do (256); 0 keeps each image's size. Sides are rounded to the "
                  "network's multiple: 4 for ResNet, 128 or 256 for unet_128 / unet_256."),
              Combo("mode", TRANSLATE_MODES, tooltip="train: as the reference's test.py without --eval, how "
                    "pix2pix's published results were made: batch norm uses each image's own statistics and "
                    "dropout is on (seeded). eval: running statistics, no dropout. CycleGAN's instance-norm "
                    "generators give the same images either way."),
              Int("seed", 0, min=0, max=SEED_MAX, control_after_generate=True,
                  tooltip="Dropout in train mode: image i draws from seed + i.")]
    outputs = [Output("IMAGE")]

    def execute(self, gan: ImageTranslator, image: torch.Tensor, size: int, mode: str, seed: int,
                context: ExecutionContext) -> tuple:
        return (gan.translate(image, size, mode, seed, progress=context.progress),)


NODES = [ImageToImageGANLoader, GANImageToImage]
