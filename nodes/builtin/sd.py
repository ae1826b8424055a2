"""Stable Diffusion: loaders, text encoding, sampling and the VAE (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.values import Conditioning, Latent
from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodes.api import Combo, ExecutionContext, Float, Folders, Int, Node, Output, Socket, String, model_choices

if TYPE_CHECKING:
    import torch

    from engine.sampling.ksampler import StepCallback
    from engine.sd.clip import ClipTextModel
    from engine.sd.model import DiffusionModel
    from engine.sd.vae import VAE

SEED_MAX = 0xFFFFFFFFFFFFFFFF


class CheckpointLoaderSimple(Node):
    """Loads a diffusion model checkpoint (UNet, CLIP text encoder and VAE in one file)."""

    display_name = "Load Checkpoint"
    category = "loaders"
    inputs = [Combo("ckpt_name", model_choices("checkpoints"), tooltip="The checkpoint file to load.")]
    outputs = [Output("MODEL", tooltip="The model used for denoising latents."),
               Output("CLIP", tooltip="The CLIP model used for encoding text prompts."),
               Output("VAE", tooltip="The VAE model used for encoding and decoding images to and from latent space.")]

    def execute(self, ckpt_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.checkpoint import read_checkpoint

        path = context.folders.model_path("checkpoints", ckpt_name)
        model, clip, vae = context.models.load(path, "checkpoint", lambda file: read_checkpoint(file, context.devices))
        return model.clone(), clip, vae


class VAELoader(Node):
    display_name = "Load VAE"
    category = "loaders"
    inputs = [Combo("vae_name", model_choices("vae"))]
    outputs = [Output("VAE")]

    def execute(self, vae_name: str, context: ExecutionContext) -> tuple:
        from engine.sd.model_files import load_vae

        path = context.folders.model_path("vae", vae_name)
        return (context.models.load(path, "vae", lambda file: load_vae(file, context.devices)),)


EMBEDDING_SUFFIXES = ("", ".safetensors", ".pt", ".bin", ".pth")


def embedding_finder(folders: Folders) -> Callable[[str, int], torch.Tensor]:
    """Finds the vectors of ``embedding:NAME`` for a text encoder ``width`` wide in the embeddings folder (the name
    with or without its file extension)."""

    def find(name: str, width: int) -> torch.Tensor:
        from engine.sd.embeddings import load_embedding

        for suffix in EMBEDDING_SUFFIXES:
            try:
                path = folders.model_path("embeddings", name + suffix)
            except FileNotFoundError:
                continue
            return load_embedding(path, width)
        raise FileNotFoundError(f"embedding {name!r} (embedding:{name} in the prompt) is not in models/embeddings")

    return find


class CLIPTextEncode(Node):
    """Encodes a text prompt with a CLIP model into conditioning that guides the diffusion model."""

    display_name = "CLIP Text Encode (Prompt)"
    category = "conditioning"
    inputs = [String("text", multiline=True, dynamic_prompts=True, tooltip="The text to be encoded."),
              Socket("clip", "CLIP", tooltip="The CLIP model used for encoding the text.")]
    outputs = [Output("CONDITIONING", tooltip="A conditioning containing the embedded text.")]

    def execute(self, text: str, clip: ClipTextModel, context: ExecutionContext) -> tuple:
        if clip is None:
            raise ValueError("clip input is invalid: None (the checkpoint may not contain a text encoder)")
        cond, pooled = clip.encode_text(text, embedding_finder(context.folders))
        return ([[cond, {"pooled_output": pooled}]],)


class CLIPSetLastLayer(Node):
    display_name = "CLIP Set Last Layer"
    category = "conditioning"
    inputs = [Socket("clip", "CLIP"), Int("stop_at_clip_layer", -1, min=-24, max=-1, step=1)]
    outputs = [Output("CLIP")]

    def execute(self, clip: ClipTextModel, stop_at_clip_layer: int) -> tuple:
        clip = clip.clone()
        clip.set_last_layer(stop_at_clip_layer)
        return (clip,)


def preview_callback(model: DiffusionModel, context: ExecutionContext) -> StepCallback:
    """Reports each sampler step with a fast latent->RGB preview of the first image."""
    from PIL import Image

    def report(step: int, total: int, x0: torch.Tensor) -> None:
        rgb = model.latent_format.preview_rgb(x0[0])
        context.progress(step + 1, total, Image.fromarray(rgb.numpy()))

    return report


def common_ksampler(model: DiffusionModel, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                    positive: Conditioning, negative: Conditioning, latent: Latent, denoise: float = 1.0,
                    disable_noise: bool = False, start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False, on_step: StepCallback | None = None) -> Latent:
    """ComfyUI's ``common_ksampler`` (its name and arguments, for the nodes and plug-ins that call it)."""
    from engine.sampling.ksampler import sample_latent

    return sample_latent(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent, denoise,
                         add_noise=not disable_noise, start_step=start_step, last_step=last_step,
                         force_full_denoise=force_full_denoise, callback=on_step)


class KSampler(Node):
    """Uses the provided model, positive and negative conditioning to denoise the latent image."""

    display_name = "KSampler"
    category = "sampling"
    inputs = [
        Socket("model", "MODEL", tooltip="The model used for denoising the input latent."),
        Int("seed", 0, min=0, max=SEED_MAX, control_after_generate=True,
            tooltip="The random seed used for creating the noise."),
        Int("steps", 20, min=1, max=10000, tooltip="The number of steps used in the denoising process."),
        Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, round=0.01,
              tooltip="Classifier-free guidance scale: higher follows the prompt more closely."),
        Combo("sampler_name", SAMPLER_NAMES, tooltip="The algorithm used when sampling."),
        Combo("scheduler", SCHEDULER_NAMES, tooltip="How noise is removed across the steps."),
        Socket("positive", "CONDITIONING", tooltip="What to include in the image."),
        Socket("negative", "CONDITIONING", tooltip="What to exclude from the image."),
        Socket("latent_image", "LATENT", tooltip="The latent image to denoise."),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.01, tooltip="How much of the latent to replace with noise."),
    ]
    outputs = [Output("LATENT", tooltip="The denoised latent.")]

    def execute(self, model: DiffusionModel, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                positive: Conditioning, negative: Conditioning, latent_image: Latent, denoise: float,
                context: ExecutionContext) -> tuple:
        return (common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                                denoise=denoise, on_step=preview_callback(model, context)),)


class KSamplerAdvanced(Node):
    display_name = "KSampler (Advanced)"
    category = "sampling"
    inputs = [
        Socket("model", "MODEL"), Combo("add_noise", ["enable", "disable"]),
        Int("noise_seed", 0, min=0, max=SEED_MAX, control_after_generate=True),
        Int("steps", 20, min=1, max=10000), Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, round=0.01),
        Combo("sampler_name", SAMPLER_NAMES), Combo("scheduler", SCHEDULER_NAMES),
        Socket("positive", "CONDITIONING"), Socket("negative", "CONDITIONING"), Socket("latent_image", "LATENT"),
        Int("start_at_step", 0, min=0, max=10000), Int("end_at_step", 10000, min=0, max=10000),
        Combo("return_with_leftover_noise", ["disable", "enable"]),
    ]
    outputs = [Output("LATENT")]

    def execute(self, model: DiffusionModel, add_noise: str, noise_seed: int, steps: int, cfg: float,
                sampler_name: str, scheduler: str, positive: Conditioning, negative: Conditioning, latent_image: Latent,
                start_at_step: int, end_at_step: int, return_with_leftover_noise: str,
                context: ExecutionContext) -> tuple:
        return (common_ksampler(model, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                                latent_image, disable_noise=add_noise == "disable",
                                start_step=start_at_step, last_step=end_at_step,
                                force_full_denoise=return_with_leftover_noise != "enable",
                                on_step=preview_callback(model, context)),)


class VAEDecode(Node):
    """Decodes latent images back into pixel space images."""

    display_name = "VAE Decode"
    category = "latent"
    inputs = [Socket("samples", "LATENT", tooltip="The latent to be decoded."),
              Socket("vae", "VAE", tooltip="The VAE model used for decoding the latent.")]
    outputs = [Output("IMAGE", tooltip="The decoded image.")]

    def execute(self, samples: Latent, vae: VAE) -> tuple:
        return (vae.decode(samples["samples"]),)


class VAEEncode(Node):
    display_name = "VAE Encode"
    category = "latent"
    inputs = [Socket("pixels", "IMAGE"), Socket("vae", "VAE")]
    outputs = [Output("LATENT")]

    def execute(self, pixels: torch.Tensor, vae: VAE) -> tuple:
        return ({"samples": vae.encode(pixels[..., :3])},)


class VAEDecodeTiled(Node):
    display_name = "VAE Decode (Tiled)"
    category = "_for_testing"
    inputs = [Socket("samples", "LATENT"), Socket("vae", "VAE"),
              Int("tile_size", 512, min=64, max=4096, step=32), Int("overlap", 64, min=0, max=4096, step=32)]
    outputs = [Output("IMAGE")]

    def execute(self, samples: Latent, vae: VAE, tile_size: int = 512, overlap: int = 64) -> tuple:
        f = vae.spacial_compression_decode()  # ComfyUI's units: latent pixels
        overlap = min(overlap, tile_size // 4)
        tile = tile_size // f
        return (vae.decode_tiled(samples["samples"], tile_x=tile, tile_y=tile, overlap=overlap // f),)


class VAEEncodeTiled(Node):
    display_name = "VAE Encode (Tiled)"
    category = "_for_testing"
    inputs = [Socket("pixels", "IMAGE"), Socket("vae", "VAE"),
              Int("tile_size", 512, min=64, max=4096, step=64), Int("overlap", 64, min=0, max=4096, step=32)]
    outputs = [Output("LATENT")]

    def execute(self, pixels: torch.Tensor, vae: VAE, tile_size: int = 512, overlap: int = 64) -> tuple:
        return ({"samples": vae.encode_tiled(pixels[..., :3], tile_x=tile_size, tile_y=tile_size,
                                             overlap=min(overlap, tile_size // 4))},)


NODES = [CheckpointLoaderSimple, VAELoader, CLIPTextEncode, CLIPSetLastLayer, KSampler, KSamplerAdvanced,
         VAEDecode, VAEEncode, VAEDecodeTiled, VAEEncodeTiled]
