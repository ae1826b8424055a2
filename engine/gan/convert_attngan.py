"""Convert an AttnGAN release (generator, DAMSM text encoder, dataset vocabulary) into one Atelier safetensors
file, without running code from any of them.

    python -m engine.gan.convert_attngan bird_AttnGAN2.pth text_encoder200.pth captions.pickle \\
        models/gan/attngan_birds.safetensors

The generator (``netG_epoch_*.pth`` or the released ``bird_AttnGAN2.pth``) and the text encoder
(``text_encoder*.pth``, the DAMSM encoder the generator was trained with) are plain state dicts, read with
``torch.load(weights_only=True)`` (``module.`` prefixes of multi-GPU saves are dropped). The vocabulary pairs
the encoder's embedding rows with words; it is one of:

- the dataset's ``captions.pickle`` (``[train_captions, test_captions, ixtoword, wordtoix]``), read by an
  unpickler that refuses every global, so no code in it can run;
- a JSON file ``{"wordtoix": {"<end>": 0, "the": 1, ...}}``;
- a text file with one word per line, line N being word index N (``ixtoword`` in order).

``--vocabulary-json OUT.json`` also writes the vocabulary as JSON (to share it, or for a DF-GAN of the same data).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.gan.convert_dfgan import read_generator, read_vocabulary, without_module_prefix
from engine.gan.files import gan_from_state_dict


def read_words(path: Path) -> dict[str, int]:
    """wordtoix from captions.pickle, a JSON file or a one-word-per-line text file."""
    if path.suffix == ".txt":
        words = path.read_text(encoding="utf-8").splitlines()
        return {word: index for index, word in enumerate(words) if word}
    return read_vocabulary(path)


def read_netG(path: Path) -> dict[str, torch.Tensor]:
    """A G_NET state dict, also when wrapped as ``{"netG": ...}`` (as some derived repositories save it)."""
    checkpoint = read_generator(path)
    return without_module_prefix(checkpoint["netG"]) if isinstance(checkpoint.get("netG"), dict) else checkpoint


def attngan_tensors(generator: Path, text_encoder: Path) -> dict[str, torch.Tensor]:
    tensors = {f"netG.{key}": value for key, value in read_netG(generator).items()}
    encoder = without_module_prefix(torch.load(text_encoder, map_location="cpu", weights_only=True))
    tensors.update({f"text_encoder.{key}": value for key, value in encoder.items()})
    return {key: value.contiguous() for key, value in tensors.items()}


def convert(generator: Path, text_encoder: Path, vocabulary: Path, target: Path) -> dict[str, Any]:
    tensors = attngan_tensors(generator, text_encoder)
    settings = {"atelier_gan": "attngan", "wordtoix": read_words(vocabulary)}
    loaded = gan_from_state_dict(tensors, settings, target.name)  # refuse files we could not load later
    if loaded.kind != "attngan":
        raise ValueError(f"{generator.name} is not an AttnGAN generator (found {loaded.kind})")
    save_file(tensors, str(target), metadata={key: json.dumps(value) for key, value in settings.items()})
    return {"tensors": len(tensors), "words": len(settings["wordtoix"]), "resolution": loaded.resolution}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator", type=Path, help="AttnGAN G_NET state dict (netG_epoch_*.pth)")
    parser.add_argument("text_encoder", type=Path, help="DAMSM text encoder (text_encoder*.pth)")
    parser.add_argument("vocabulary", type=Path, help="captions.pickle, a JSON file with wordtoix, or words .txt")
    parser.add_argument("output", type=Path)
    parser.add_argument("--vocabulary-json", type=Path, help="also write the vocabulary to this JSON file")
    args = parser.parse_args(argv)
    summary = convert(args.generator, args.text_encoder, args.vocabulary, args.output)
    if args.vocabulary_json:
        args.vocabulary_json.write_text(json.dumps({"wordtoix": read_words(args.vocabulary)}), encoding="utf-8")
    print(f"wrote {args.output} ({summary['tensors']} tensors, {summary['words']} words, "
          f"{summary['resolution']}² images)")


if __name__ == "__main__":
    main()
