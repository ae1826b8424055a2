"""VQGAN (taming-transformers) as nodes: load, encode to codes, decode, and reconstruct images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.api import Boolean, Combo, ExecutionContext, Folders, Node, Output, Socket

if TYPE_CHECKING:
    import torch

    from engine.gan.vqgan_files import VQGANModel

VQGAN = "VQGAN"
CODES = "VQGAN_CODES"
VQGAN_EXTENSIONS = (".ckpt", ".safetensors", ".pth", ".pt")  # Lightning checkpoints are read without running code


def vqgan_files(folders: Folders) -> list[str]:
    return folders.list_models("vqgan", VQGAN_EXTENSIONS)


class VQGANLoader(Node):
    """Loads a taming-transformers VQGAN (a Lightning last.ckpt, read without running pickled code, or
    .safetensors) from models/vqgan or models/gan; its sizes come from its tensors."""

    display_name = "Load VQGAN"
    category = "loaders"
    inputs = [Combo("vqgan_name", vqgan_files)]
    outputs = [Output(VQGAN)]

    def execute(self, vqgan_name: str, context: ExecutionContext) -> tuple:
        from engine.gan.vqgan_files import load_vqgan

        return (context.models.load(context.folders.model_path("vqgan", vqgan_name), "vqgan", load_vqgan),)


class VQGANEncode(Node):
    """Encodes images to codebook indices and their quantised latent (sides padded to the model's multiple)."""

    display_name = "VQGAN Encode"
    category = "gan"
    inputs = [Socket("vqgan", VQGAN), Socket("image", "IMAGE")]
    outputs = [Output("LATENT"), Output(CODES, "codes")]

    def execute(self, vqgan: VQGANModel, image: torch.Tensor, context: ExecutionContext) -> tuple:
        latent, codes = vqgan.encode(image, progress=context.progress)
        return ({"samples": latent}, codes)


class VQGANDecode(Node):
    """Decodes codes, or a latent (snapped to the codebook first when quantize is on), to images."""

    display_name = "VQGAN Decode"
    category = "gan"
    inputs = [Socket("vqgan", VQGAN), Socket("samples", "LATENT", optional=True),
              Socket("codes", CODES, optional=True, tooltip="Used instead of samples when connected."),
              Boolean("quantize", True, optional=True, tooltip="Snap the latent to the nearest codebook entries "
                      "(VQGANEncode's latents already are).")]
    outputs = [Output("IMAGE")]

    def execute(self, vqgan: VQGANModel, samples: dict | None = None, codes: torch.Tensor | None = None,
                quantize: bool = True, *, context: ExecutionContext) -> tuple:
        if codes is not None:
            return (vqgan.decode_codes(codes, progress=context.progress),)
        if samples is None:
            raise ValueError("VQGAN Decode needs samples or codes")
        return (vqgan.decode(samples["samples"], quantize, progress=context.progress),)


class VQGANReconstruct(Node):
    """Images through encode, quantise and decode: what the autoencoder keeps of them (reconstruction FID)."""

    display_name = "VQGAN Reconstruct"
    category = "gan"
    inputs = [Socket("vqgan", VQGAN), Socket("image", "IMAGE")]
    outputs = [Output("IMAGE")]

    def execute(self, vqgan: VQGANModel, image: torch.Tensor, context: ExecutionContext) -> tuple:
        return (vqgan.reconstruct(image, progress=context.progress),)


NODES = [VQGANLoader, VQGANEncode, VQGANDecode, VQGANReconstruct]
