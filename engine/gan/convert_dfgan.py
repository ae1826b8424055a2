"""Convert a DF-GAN release (generator checkpoint, DAMSM text encoder, dataset vocabulary) into one
Atelier safetensors file, without running code from any of them.

    python -m engine.gan.convert_dfgan state_epoch_1220.pth text_encoder200.pth captions.pickle birds.safetensors

Checkpoints are read with ``torch.load(weights_only=True)``. ``captions.pickle`` (AttnGAN's
``[train_captions, test_captions, ixtoword, wordtoix]``) is plain lists and dicts, so it is read by an
unpickler that refuses every global; a JSON file holding ``{"wordtoix": {...}}`` works as well.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.gan.files import gan_from_state_dict


class NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a vocabulary holds only lists and dicts")


def without_module_prefix(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Multi-GPU (DataParallel) checkpoints prefix every name with ``module.``."""
    return {key.removeprefix("module."): value for key, value in sd.items()}


def read_generator(path: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "model" in checkpoint:  # DF-GAN's save_models: {"model": {"netG", "netD", "netC"}, ...}
        checkpoint = checkpoint["model"]["netG"]
    return without_module_prefix(checkpoint)


def read_vocabulary(path: Path) -> dict[str, int]:
    if path.suffix == ".json":
        return dict(json.loads(path.read_text(encoding="utf-8"))["wordtoix"])
    with path.open("rb") as handle:
        data = NoGlobalsUnpickler(handle, encoding="latin1").load()
    words = data["wordtoix"] if isinstance(data, dict) else data[3]
    return {str(word): int(index) for word, index in words.items()}


def convert(generator: Path, text_encoder: Path, vocabulary: Path, target: Path) -> dict[str, Any]:
    tensors = {f"netG.{key}": value for key, value in read_generator(generator).items()}
    encoder = without_module_prefix(torch.load(text_encoder, map_location="cpu", weights_only=True))
    tensors.update({f"text_encoder.{key}": value for key, value in encoder.items()})
    tensors = {key: value.contiguous() for key, value in tensors.items()}
    wordtoix = read_vocabulary(vocabulary)
    settings = {"atelier_gan": "dfgan", "wordtoix": wordtoix}
    gan_from_state_dict(tensors, settings, target.name)  # refuse files we could not load later
    save_file(tensors, str(target), metadata={key: json.dumps(value) for key, value in settings.items()})
    return {"tensors": len(tensors), "words": len(wordtoix)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator", type=Path, help="DF-GAN checkpoint (.pth)")
    parser.add_argument("text_encoder", type=Path, help="DAMSM text encoder (text_encoder*.pth)")
    parser.add_argument("vocabulary", type=Path, help="captions.pickle or a JSON file with wordtoix")
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    summary = convert(args.generator, args.text_encoder, args.vocabulary, args.output)
    print(f"wrote {args.output} ({summary['tensors']} tensors, {summary['words']} words)")


if __name__ == "__main__":
    main()
