"""GAN files: ``.safetensors`` whose architecture is read from tensor names and shapes.

DF-GAN: ``netG.*`` + ``text_encoder.*``; AttnGAN: ``netG.h_net*`` + ``text_encoder.*``; StackGAN++:
``netG.h_net*`` (+ ``embeddings``); StyleGAN2: ``mapping.*`` + ``synthesis.bN.*``; StyleGAN3: ``mapping.*`` +
``synthesis.input.*`` + ``synthesis.L{i}_{size}_{channels}.*``; DCGAN: ``main.N.*``.
What shapes cannot tell (StyleGAN2's ``conv_clamp``, DF-GAN's vocabulary ``wordtoix``) comes from the file's
metadata (written by ``save_gan`` and the pickle converter) or from ``<name>.json`` beside the file, which
wins where both have a setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from engine.gan.attngan import build_attngan
from engine.gan.damsm import check_vocabulary
from engine.gan.dcgan import DCGANGenerator, detect_dcgan
from engine.gan.dfgan import build_dfgan
from engine.gan.generator import GANGenerator
from engine.gan.stackgan import build_stackgan
from engine.gan.stylegan2 import StyleGAN2Generator, detect_stylegan2
from engine.gan.stylegan3 import StyleGAN3Generator, detect_stylegan3

# Constant buffers older files may lack; the module's own values are the right ones.
OPTIONAL_KEYS = ("resample_filter", "num_batches_tracked")


class GANError(ValueError):
    """A file that is not a GAN generator we can load."""


def read_settings(path: Path) -> dict[str, Any]:
    """Settings from the safetensors metadata (JSON-encoded strings), then the JSON beside the file."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    settings: dict[str, Any] = {}
    for key, value in metadata.items():
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    settings.update(json_beside(path))
    return settings


def json_beside(path: Path) -> dict[str, Any]:
    """The settings in ``<name>.json`` beside the file (empty when there is none)."""
    beside = path.with_suffix(".json")
    return json.loads(beside.read_text(encoding="utf-8")) if beside.is_file() else {}


def build_network(sd: Mapping[str, torch.Tensor], settings: Mapping[str, Any], name: str) -> tuple[str, nn.Module]:
    if "netG.h_net1.fc.0.weight" in sd:  # the G_NET trees: AttnGAN (with its DAMSM encoder) and StackGAN++
        return build_stage_tree(sd, settings, name)
    if "netG.fc.weight" in sd:
        return "dfgan", build_dfgan(sd, _vocabulary(settings, sd, name))
    if "synthesis.input.freqs" in sd:
        return "stylegan3", StyleGAN3Generator(detect_stylegan3(sd, {**(settings.get("config") or {}), **settings}))
    if "mapping.w_avg" in sd:
        return "stylegan2", StyleGAN2Generator(detect_stylegan2(sd, settings.get("conv_clamp", 256.0)))
    try:
        return "dcgan", DCGANGenerator(**detect_dcgan(sd))
    except KeyError as error:
        raise GANError(f"{name or 'this file'} is not a known GAN generator: expected DCGAN (main.N.*), "
                       "StyleGAN2 (mapping.*, synthesis.bN.*), StyleGAN3 (synthesis.input.*) or DF-GAN (netG.*, "
                       "text_encoder.*) tensors") from error


def _vocabulary(settings: Mapping[str, Any], sd: Mapping[str, torch.Tensor], name: str) -> dict[str, int]:
    """DF-GAN's and AttnGAN's wordtoix, checked against their DAMSM encoder."""
    try:
        return check_vocabulary(settings.get("wordtoix"), sd, name or "this file")
    except ValueError as error:
        raise GANError(str(error)) from error


def build_stage_tree(sd: Mapping[str, torch.Tensor], settings: Mapping[str, Any], name: str) -> tuple[str, nn.Module]:
    try:
        if "text_encoder.encoder.weight" in sd:
            return "attngan", build_attngan(sd, _vocabulary(settings, sd, name))
        return "stackgan", build_stackgan(sd, settings.get("captions", ()))
    except ValueError as error:
        raise GANError(str(error)) from error


def gan_from_state_dict(sd: Mapping[str, torch.Tensor], settings: Mapping[str, Any] | None = None,
                        name: str = "") -> GANGenerator:
    try:
        kind, network = build_network(sd, settings or {}, name)
    except KeyError as error:
        raise GANError(f"{name}: tensors missing for its architecture: {error}") from error
    missing, unexpected = network.load_state_dict(dict(sd), strict=False)
    problems = [k for k in missing if not k.endswith(OPTIONAL_KEYS)] + list(unexpected)
    if problems:
        raise GANError(f"{name}: tensors do not fit a {kind} generator: {problems[:5]}")
    return GANGenerator(kind, network, name)


def load_gan(path: str | Path) -> GANGenerator:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise GANError(f"{path.name}: GAN files are .safetensors (convert network pickles with "
                       "`python -m engine.gan.convert_pickle`)")
    try:
        settings = read_settings(path)
        sd = load_file(str(path))
    except Exception as error:  # safetensors raises its own types for truncated or foreign files
        raise GANError(f"{path.name}: not a readable safetensors file ({error})") from error
    return gan_from_state_dict(sd, settings, path.name)


def save_gan(generator: GANGenerator, path: str | Path) -> None:
    """Our format: the network's state_dict plus JSON-encoded settings in the safetensors metadata."""
    settings: dict[str, Any] = {"atelier_gan": generator.kind}
    config = getattr(generator.network, "config", None)
    if config is not None:
        settings["config"] = asdict(config)
        settings["conv_clamp"] = config.conv_clamp
    for setting in ("wordtoix", "captions"):  # text-to-image vocabularies; StackGAN++'s embedding captions
        if getattr(generator.network, setting, None):
            settings[setting] = getattr(generator.network, setting)
    tensors = {k: v.detach().contiguous() for k, v in generator.network.state_dict().items()}
    save_file(tensors, str(path), metadata={key: json.dumps(value) for key, value in settings.items()})
