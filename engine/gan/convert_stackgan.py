"""Convert a StackGAN++ generator (and, for text-conditioned models, its text embeddings) into one Atelier
safetensors file, without running code from any of them.

    python -m engine.gan.convert_stackgan netG_210000.pth models/gan/stackgan_birds.safetensors \\
        --embeddings char-CNN-RNN-embeddings.pickle [--captions captions.txt]
    python -m engine.gan.convert_stackgan netG_270000.pth models/gan/stackgan_church.safetensors  # unconditional

``netG_*.pth`` is a plain state dict (saved from ``DataParallel``: the ``module.`` prefixes are dropped), read with
``torch.load(weights_only=True)``. Text-conditioned models (birds) need the precomputed 1024-d char-CNN-RNN
embeddings they take: a ``.npy`` (read without pickles), a ``.safetensors`` (its ``embeddings`` tensor or its only
one), or the dataset's ``char-CNN-RNN-embeddings.pickle``, read by an unpickler that rebuilds NumPy arrays and
nothing else. ``[N, K, 1024]`` (K captions per image) becomes rows ``image * K + caption``. ``--captions`` is a
text file with one caption per row, so a caption can be picked by its words as well as by its row number.
"""

from __future__ import annotations

import argparse
import codecs
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from engine.gan.convert_attngan import read_netG
from engine.gan.convert_pickle import NUMPY_ALLOWED
from engine.gan.files import gan_from_state_dict

# Protocol-2 pickles written by Python 3 store bytes through _codecs.encode.
NUMPY_GLOBALS = {**NUMPY_ALLOWED, ("_codecs", "encode"): codecs.encode}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays, lists and dicts; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: text embeddings hold only arrays")


def read_embeddings(path: Path) -> torch.Tensor:
    """Text embeddings as rows [N, D] (float32)."""
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif path.suffix == ".safetensors":
        tensors = load_file(str(path))
        if "embeddings" not in tensors and len(tensors) != 1:
            raise ValueError(f"{path.name}: expected an 'embeddings' tensor or a single tensor, found {list(tensors)}")
        array = (tensors.get("embeddings", next(iter(tensors.values())))).numpy()
    else:
        with path.open("rb") as handle:
            array = np.asarray(ArraysOnlyUnpickler(handle, encoding="latin1").load(), dtype=np.float32)
    if array.ndim < 2:
        raise ValueError(f"{path.name}: expected embeddings [N, D] or [N, K, D], found shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).reshape(-1, array.shape[-1])


def convert(generator: Path, target: Path, embeddings: Path | None = None,
            captions: Path | None = None) -> dict[str, Any]:
    tensors = {f"netG.{key}": value.contiguous() for key, value in read_netG(generator).items()}
    if embeddings is not None and "netG.ca_net.fc.weight" not in tensors:
        raise ValueError(f"{generator.name} is unconditional: it takes no text embeddings")
    if embeddings is not None:
        tensors["embeddings"] = read_embeddings(embeddings)
    settings: dict[str, Any] = {"atelier_gan": "stackgan"}
    if captions is not None:
        settings["captions"] = [line.strip() for line in captions.read_text(encoding="utf-8").splitlines()]
    loaded = gan_from_state_dict(tensors, settings, target.name)  # refuse files we could not load later
    if loaded.kind != "stackgan":
        raise ValueError(f"{generator.name} is not a StackGAN++ generator (found {loaded.kind})")
    rows = len(tensors["embeddings"]) if "embeddings" in tensors else 0
    if "captions" in settings and len(settings["captions"]) != rows:
        raise ValueError(f"{len(settings['captions'])} captions for {rows} embedding rows")
    save_file(tensors, str(target), metadata={key: json.dumps(value) for key, value in settings.items()})
    return {"tensors": len(tensors), "embeddings": rows, "resolution": loaded.resolution}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator", type=Path, help="StackGAN++ G_NET state dict (netG_*.pth)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--embeddings", type=Path, help="text embeddings (.npy, .safetensors or the dataset pickle)")
    parser.add_argument("--captions", type=Path, help="one caption per embedding row (.txt)")
    args = parser.parse_args(argv)
    summary = convert(args.generator, args.output, args.embeddings, args.captions)
    print(f"wrote {args.output} ({summary['tensors']} tensors, {summary['embeddings']} embedding rows, "
          f"{summary['resolution']}² images)")


if __name__ == "__main__":
    main()
