"""What sets one Stable Diffusion family apart from another, asked of one object per family instead of compared as
strings: how its checkpoints and UNets are recognised, its text encoders (checkpoint prefix and how each is read),
its latent format, how its noise prediction is read from a file, the extra inputs its UNet takes, and the
single-file layout it is saved in."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from engine.sd.latent_format import LatentFormat
from engine.sd.model_inputs import adm_vector, inpaint_concat, ip2p_concat
from engine.sd.state_dict import has_prefix
from engine.sd.tokenizer import EOS
from engine.sd.unet_config import UNetConfig

UNET_PREFIX = "model.diffusion_model."  # where every family's single-file checkpoints keep the UNet ...
VAE_PREFIX = "first_stage_model."  # ... and the VAE
SamplingType = tuple[str, bool]  # (prediction: "eps" or "v_prediction", zero terminal SNR)


@dataclass(frozen=True)
class EncoderStyle:
    """How a family reads its encoder: which layer, whether that layer goes through the final norm, how to pad."""

    layer: int = -1  # -1 is the last layer, -2 the penultimate ("clip skip 2")
    norm_hidden: bool = True
    pad_token: int = EOS
    save_layout: str = "hf"  # how checkpoints store it: "hf" (transformers names) or "openclip"


@dataclass(frozen=True)
class TextEncoderSlot:
    """One text encoder of a family: its name (SDXL's pair is ``clip_l`` + ``clip_g``), where single-file
    checkpoints keep it, how the family reads it, and the width of the published encoder."""

    name: str
    prefix: str
    style: EncoderStyle
    width: int


class ModelFamily:
    """One Stable Diffusion family. Subclasses set the class attributes and override what differs; code holds the
    singletons in ``engine.sd.families`` and asks them. ``name`` is the short string for messages and anything
    persisted."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    text_encoders: ClassVar[tuple[TextEncoderSlot, ...]]
    latent_format: ClassVar[LatentFormat]
    unet_prefix: ClassVar[str] = UNET_PREFIX
    vae_prefix: ClassVar[str] = VAE_PREFIX
    clip_vision_prefix: ClassVar[str | None] = None  # where its checkpoints keep a CLIP vision tower (unCLIP)

    def __repr__(self) -> str:
        return f"<{self.display_name} family>"

    # Recognition
    def claims_checkpoint(self, sd: Mapping[str, torch.Tensor]) -> bool:
        """Whether a single-file checkpoint holds this family's text encoders (under their prefixes)."""
        return all(has_prefix(sd, slot.prefix) for slot in self.text_encoders)

    def claims_unet(self, config: UNetConfig) -> bool:
        """Whether a UNet of this config belongs to this family; asked most specific family first."""
        raise NotImplementedError

    # Sampling
    def sampling_type(self, unet_sd: Mapping[str, torch.Tensor], markers: Collection[str] = ()) -> SamplingType:
        """(prediction, zero terminal SNR) of a UNet of this family, from its weights and the file's other keys."""
        return "eps", False

    # Extra UNet inputs
    def size_embedding(self, options: dict[str, Any], height: int, width: int, negative: bool) -> torch.Tensor | None:
        """The size/score part of the class vector ``y`` (after the pooled text), or None for families without."""
        return None

    def takes_inpainting_channels(self, config: UNetConfig) -> bool:
        """An inpainting UNet: extra input channels for a mask and a masked image (ComfyUI's ``concat_keys``)."""
        return config.in_channels == self.latent_format.channels + 5

    def extra_inputs(self, config: UNetConfig, options: dict[str, Any], latent_image: torch.Tensor,
                     denoise_mask: torch.Tensor | None, negative: bool, seed: int = 0
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(``y``, ``concat``) for one conditioning entry over a full latent [B,C,h,w] (model space); ``seed`` is
        the sampler's (unCLIP draws its noise augmentation from it)."""
        height, width = latent_image.shape[-2] * 8, latent_image.shape[-1] * 8
        y = None
        if config.adm_in_channels:
            sizes = self.size_embedding(options, height, width, negative)
            if sizes is not None:
                y = adm_vector(options, sizes, config.adm_in_channels)
        concat = None
        if self.takes_inpainting_channels(config):
            concat = inpaint_concat(options, latent_image, denoise_mask, self.latent_format.process_in)
        elif config.in_channels == 2 * self.latent_format.channels:  # InstructPix2Pix (ComfyUI's *_instructpix2pix)
            concat = ip2p_concat(options, latent_image)
        return y, concat

    # Text encoders
    def text_encoder_value(self, encoders: Mapping[str, Any]) -> Any:
        """The CLIP value of this family from its encoders by slot name: the encoder itself, or SDXL's pair."""
        if len(self.text_encoders) == 1:
            return encoders[self.text_encoders[0].name]
        from engine.sd.dual_clip import DualClip  # pulls in transformers, which is slow to import

        return DualClip(*(encoders[slot.name] for slot in self.text_encoders))

    def encoders_of(self, clip: Any) -> dict[str, Any]:
        """A CLIP value's encoders by slot name (the inverse of ``text_encoder_value``)."""
        return dict(getattr(clip, "encoders", None) or {self.text_encoders[0].name: clip})

    # Save layout
    def checkpoint_prefixes(self) -> dict[str, str]:
        """Where this family's single-file checkpoints keep each part: ``unet``, ``vae`` and each encoder slot."""
        return {"unet": self.unet_prefix, "vae": self.vae_prefix,
                **{slot.name: slot.prefix for slot in self.text_encoders}}


def describe_layouts(families: Sequence[ModelFamily]) -> str:
    """The text-encoder prefixes of ``families`` for error messages."""
    return ", ".join(" + ".join(repr(slot.prefix) for slot in family.text_encoders) + f" ({family.display_name})"
                     for family in families)
