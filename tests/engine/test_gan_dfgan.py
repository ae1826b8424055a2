"""DF-GAN: text-conditioned NetG with its DAMSM text encoder, built small with random weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from engine.gan import GANError, GANGenerator, load_gan, save_gan
from engine.gan.dfgan import DFGANGenerator, NetG, TextEncoder, detect_dfgan

WORDS = {"<end>": 0, "a": 1, "small": 2, "red": 3, "bird": 4, "blue": 5, "with": 6, "wings": 7}


def dfgan(seed: int = 0, channels: tuple[int, ...] = (32, 32, 16, 8), nz: int = 12, cond: int = 10) -> GANGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = DFGANGenerator(NetG(nz, cond, list(channels)), TextEncoder(len(WORDS), 9, cond // 2), WORDS)
        for name, parameter in network.named_parameters():  # DF-GAN starts its affines at gamma=1, beta=0
            if "linear2" in name:
                parameter.data.normal_(0, 0.3)
    return GANGenerator("dfgan", network)


def test_shapes_ranges_and_determinism():
    generator = dfgan()
    assert generator.needs_text and generator.resolution == 32 and generator.z_dim == 12
    assert generator.w_dim is None and generator.num_classes == 0
    images = generator.generate([1, 2], text="a small red bird")
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, generator.generate([1, 2], text="a small red bird"))
    assert not torch.allclose(images[0], images[1])


def test_text_changes_the_image_and_tokenizing_follows_dfgan():
    generator = dfgan()
    red = generator.generate([3], text="A small RED bird.")
    assert not torch.allclose(red, generator.generate([3], text="a blue bird with wings"))
    # lower-cased \w+ words; unknown words are dropped
    assert torch.equal(red, generator.generate([3], text="a small red zebra bird"))
    assert generator.network.tokenize("Small, red!") == [2, 3]


def test_missing_or_unknown_text_is_a_clear_error():
    generator = dfgan()
    with pytest.raises(ValueError, match="caption"):
        generator.generate([1])
    with pytest.raises(ValueError, match="vocabulary"):
        generator.generate([1], text="zebra giraffe")


def test_sentence_embedding_is_the_final_hidden_states_of_both_directions():
    network = dfgan().network
    ids = torch.tensor([network.tokenize("a red bird")])
    outputs, _ = network.text_encoder.rnn(network.text_encoder.encoder(ids))
    half = outputs.shape[-1] // 2
    expected = torch.cat([outputs[0, -1, :half], outputs[0, 0, half:]])  # forward ends last, backward first
    torch.testing.assert_close(network.sentence_embedding("a red bird")[0], expected)


def test_truncation_zero_gives_one_image_for_any_seed():
    images = dfgan().generate([1, 2], truncation=0.0, text="a bird")
    torch.testing.assert_close(images[0], images[1])


def test_sizes_come_from_shapes():
    sd = dfgan(channels=(64, 32, 32), nz=6, cond=8).network.state_dict()
    sizes = detect_dfgan(sd)
    assert sizes["netG"] == {"nz": 6, "channels": [64, 32, 32], "image_channels": 3, "cond_dim": 8}
    assert sizes["text_encoder"] == {"vocabulary_size": len(WORDS), "embedding_dim": 9, "hidden_per_direction": 4,
                                     "layers": 1, "bidirectional": True}


def test_round_trip_with_the_vocabulary_in_metadata(tmp_path):
    generator = dfgan(seed=4)
    save_gan(generator, tmp_path / "birds.safetensors")
    loaded = load_gan(tmp_path / "birds.safetensors")
    assert loaded.kind == "dfgan" and loaded.needs_text
    assert torch.equal(loaded.generate([5], text="red bird"), generator.generate([5], text="red bird"))


def test_vocabulary_from_the_json_beside_the_file(tmp_path):
    generator = dfgan(seed=5)
    tensors = {k: v.contiguous() for k, v in generator.network.state_dict().items()}
    save_file(tensors, str(tmp_path / "coco.safetensors"))
    with pytest.raises(GANError, match="coco.json"):
        load_gan(tmp_path / "coco.safetensors")
    (tmp_path / "coco.json").write_text(json.dumps({"wordtoix": WORDS}))
    loaded = load_gan(tmp_path / "coco.safetensors")
    assert torch.equal(loaded.generate([1], text="blue wings"), generator.generate([1], text="blue wings"))
