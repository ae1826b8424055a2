"""The DF-GAN converter: release files (checkpoint, DAMSM encoder, captions.pickle) become one loadable file."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from engine.gan import load_gan
from engine.gan.convert_dfgan import convert, main
from engine.gan.dfgan import DFGANGenerator, NetG, TextEncoder

WORDS = {"<end>": 0, "this": 1, "bird": 2, "is": 3, "yellow": 4, "black": 5}


def reference() -> DFGANGenerator:
    torch.manual_seed(7)
    network = DFGANGenerator(NetG(10, 8, [16, 16, 8]), TextEncoder(len(WORDS), 6, 4), WORDS).eval()
    for name, parameter in network.named_parameters():
        if "linear2" in name:
            parameter.data.normal_(0, 0.3)
    return network


def write_release(folder, network: DFGANGenerator, vocabulary_payload=None) -> None:
    netg = {f"module.{k}": v for k, v in network.netG.state_dict().items()}  # saved from DataParallel
    torch.save({"model": {"netG": netg, "netD": {}, "netC": {}}, "epoch": 1220}, folder / "state_epoch_1220.pth")
    torch.save(network.text_encoder.state_dict(), folder / "text_encoder200.pth")
    captions = vocabulary_payload or [[[1, 2, 3, 4]], [[1, 2, 3, 5]], {v: k for k, v in WORDS.items()}, WORDS]
    with (folder / "captions.pickle").open("wb") as handle:
        pickle.dump(captions, handle, protocol=2)


def test_release_files_convert_to_the_same_generator(tmp_path):
    network = reference()
    write_release(tmp_path, network)
    main([str(tmp_path / "state_epoch_1220.pth"), str(tmp_path / "text_encoder200.pth"),
          str(tmp_path / "captions.pickle"), str(tmp_path / "birds.safetensors")])
    loaded = load_gan(tmp_path / "birds.safetensors")
    assert loaded.kind == "dfgan" and loaded.resolution == 16
    z = loaded.sample_z([3, 4])
    with torch.no_grad():
        expected = (network(z, "this bird is black").clamp(-1, 1) + 1) / 2
    torch.testing.assert_close(loaded.generate([3, 4], text="this bird is black"), expected.movedim(1, -1))


def test_vocabulary_from_json(tmp_path):
    write_release(tmp_path, reference())
    (tmp_path / "vocab.json").write_text(json.dumps({"wordtoix": WORDS}))
    summary = convert(tmp_path / "state_epoch_1220.pth", tmp_path / "text_encoder200.pth", tmp_path / "vocab.json",
                      tmp_path / "out.safetensors")
    assert summary["words"] == len(WORDS)


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_captions_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    write_release(tmp_path, reference(), [[], [], {}, {"bird": Exploit(str(marker))}])
    with pytest.raises(pickle.UnpicklingError, match="refused to load"):
        convert(tmp_path / "state_epoch_1220.pth", tmp_path / "text_encoder200.pth", tmp_path / "captions.pickle",
                tmp_path / "out.safetensors")
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()
