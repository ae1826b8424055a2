"""AttnGAN against the reference definitions (tests/engine/stacked_gan_references.py, written out from
taoxugit/AttnGAN) on identical random weights, the published birds/COCO key layouts, and the safe converter."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from engine.gan import GANError, gan_from_state_dict, load_gan, save_gan
from engine.gan.attngan import build_attngan
from engine.gan.convert_attngan import convert, read_words
from engine.gan.damsm import tokenize
from engine.gan.generator import to_image
from engine.gan.stacked import stage_images
from tests.engine.stacked_gan_references import ATTN_G_DCGAN, ATTN_G_NET, RNN_ENCODER, attngan_cfg, randomized

WORDS = {"<end>": 0, "this": 1, "bird": 2, "has": 3, "a": 4, "red": 5, "crown": 6, "and": 7, "white": 8,
         "belly": 9, "small": 10, "yellow": 11, "wings": 12}
CAPTION = "This bird has a red crown and a white belly."
TINY = {"gf_dim": 4, "z_dim": 6, "condition_dim": 5, "embedding_dim": 8, "r_num": 1}


def reference_networks(seed: int = 0, dcgan: bool = False, **sizes: int) -> tuple[torch.nn.Module, RNN_ENCODER]:
    cfg = attngan_cfg(**{**TINY, **sizes})
    netG = randomized((ATTN_G_DCGAN if dcgan else ATTN_G_NET)(cfg), seed)
    encoder = randomized(RNN_ENCODER(len(WORDS), ninput=7, nhidden=cfg.TEXT.EMBEDDING_DIM), seed + 1)
    return netG, encoder


def file_tensors(netG: torch.nn.Module, encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Atelier's layout: the two reference state dicts under netG. and text_encoder."""
    tensors = {f"netG.{key}": value.clone() for key, value in netG.state_dict().items()}
    tensors.update({f"text_encoder.{key}": value.clone() for key, value in encoder.state_dict().items()})
    return tensors


def reference_images(netG, encoder, captions: list[list[int]], z: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The reference's gen_example: padded captions sorted by length, mask = (captions == 0), CA noise drawn from
    the global RNG after ``torch.manual_seed(seed)``."""
    lengths = torch.tensor([len(c) for c in captions])
    padded = torch.zeros(len(captions), int(lengths.max()), dtype=torch.long)
    for row, caption in enumerate(captions):
        padded[row, :len(caption)] = torch.tensor(caption)
    with torch.no_grad():
        words, sentence = encoder(padded, lengths, encoder.init_hidden(len(captions)))
        torch.manual_seed(seed)
        images, _, _, _ = netG(z, sentence, words, padded == 0)
    return images


@pytest.mark.parametrize("dcgan", [False, True])
def test_every_stage_matches_the_reference_on_identical_random_weights(dcgan):
    netG, encoder = reference_networks(dcgan=dcgan, r_num=0 if dcgan else 2)
    ours = gan_from_state_dict(file_tensors(netG, encoder), {"wordtoix": WORDS}, "tiny")
    assert ours.kind == "attngan" and ours.needs_text and ours.resolution == 256 and ours.z_dim == 6 + 5
    z = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    expected = reference_images(netG, encoder, [tokenize(CAPTION, WORDS)] * 3, z, seed=11)
    torch.manual_seed(11)
    eps = torch.FloatTensor(3, 5).normal_()  # what the reference's reparametrize drew
    with torch.no_grad():
        got = ours.network.stages(torch.cat([z, eps], dim=1), CAPTION)
    assert [tuple(image.shape) for image in got] == [tuple(image.shape) for image in expected]
    for ours_stage, reference_stage in zip(got, expected, strict=True):
        torch.testing.assert_close(ours_stage, reference_stage, atol=1e-5, rtol=0)


def test_the_damsm_encoder_matches_the_reference_on_padded_batches():
    """The reference packs a padded batch; ours encodes each caption unpadded: same words and sentence."""
    netG, encoder = reference_networks(seed=3)
    ours = gan_from_state_dict(file_tensors(netG, encoder), {"wordtoix": WORDS}).network
    captions = [tokenize(CAPTION, WORDS), tokenize("a small yellow bird", WORDS)]
    padded = torch.tensor([captions[0], captions[1] + [0] * (len(captions[0]) - len(captions[1]))])
    with torch.no_grad():
        words, sentence = encoder(padded, torch.tensor([len(c) for c in captions]), encoder.init_hidden(2))
        for row, caption in enumerate(captions):
            our_words, our_sentence = ours.text_encoder.encode(torch.tensor([caption]))
            torch.testing.assert_close(our_sentence[0], sentence[row], atol=1e-6, rtol=0)
            torch.testing.assert_close(our_words[0], words[row, :, :len(caption)], atol=1e-6, rtol=0)


def test_generate_uses_seeded_noise_then_epsilon_and_stage_images_agree():
    gan = gan_from_state_dict(file_tensors(*reference_networks(seed=5)), {"wordtoix": WORDS})
    images = gan.generate([4, 5], text=CAPTION)
    assert images.shape == (2, 256, 256, 3) and images.min() >= 0 and images.max() <= 1
    with torch.no_grad():
        stages = gan.network.stages(gan.sample_z([4, 5]), CAPTION)
    torch.testing.assert_close(images, to_image(stages[-1]))
    torch.testing.assert_close(stage_images(gan, 4, 2, text=CAPTION, stage=1), to_image(stages[0]))
    assert stage_images(gan, 4, 2, text=CAPTION, stage=2).shape == (2, 128, 128, 3)
    assert not torch.allclose(images, gan.generate([4, 5], text="a small yellow bird with white wings"))
    mean = gan.generate([1, 2], truncation=0.0, text=CAPTION)  # zero noise and epsilon: the condition's mean
    torch.testing.assert_close(mean[0], mean[1])
    with pytest.raises(ValueError, match="caption"):
        gan.generate([1])
    with pytest.raises(ValueError, match="stage 4"):
        stage_images(gan, 0, 1, text=CAPTION, stage=4)


def test_birds_and_coco_key_layouts_and_parameter_counts():
    """Every key and shape of the published configurations (code/cfg/bird_attn2.yml, coco_attn2.yml; DAMSM
    encoders with the 5,450-word CUB and 27,297-word COCO vocabularies, 300-d embeddings, 2 x 128 LSTM). The
    generator counts (7,084,592 birds, 13,811,456 COCO) are the reference definitions' own."""
    for gf_dim, r_num, vocabulary, g_params in ((32, 2, 5450, 7_084_592), (48, 3, 27297, 13_811_456)):
        reference = ATTN_G_NET(attngan_cfg(gf_dim=gf_dim, r_num=r_num))
        encoder = RNN_ENCODER(vocabulary, nhidden=256)
        tensors = file_tensors(reference, encoder)
        ours = build_attngan(tensors, {"<end>": 0})
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape)
                                                                             for k, v in tensors.items()}
        assert sum(p.numel() for p in ours.netG.parameters()) == sum(p.numel() for p in reference.parameters())
        assert sum(p.numel() for p in reference.parameters()) == g_params
        assert tuple(tensors["netG.h_net1.fc.0.weight"].shape) == (gf_dim * 16 * 32, 200)
        assert tuple(tensors["text_encoder.encoder.weight"].shape) == (vocabulary, 300)
        lstm = 2 * 4 * 128 * (300 + 128 + 2)  # two directions, four gates, input + hidden weights, two biases
        assert sum(p.numel() for p in ours.text_encoder.parameters()) == 300 * vocabulary + lstm
        assert ours.resolution == 256 and ours.z_dim == 200


def write_release(folder, seed: int = 0, data_parallel: bool = False):
    """The reference's files: G_NET and RNN_ENCODER state dicts (torch.save) and captions.pickle."""
    netG, encoder = reference_networks(seed)
    state = netG.state_dict()
    if data_parallel:
        state = {f"module.{key}": value for key, value in state.items()}
    torch.save(state, folder / "netG_epoch_600.pth")
    torch.save(encoder.state_dict(), folder / "text_encoder200.pth")
    ixtoword = {index: word for word, index in WORDS.items()}
    with (folder / "captions.pickle").open("wb") as handle:
        pickle.dump([[[1, 2]], [[3, 4]], ixtoword, WORDS], handle, protocol=2)
    return netG, encoder


@pytest.mark.parametrize("data_parallel", [False, True])
def test_converter_writes_one_file_that_loads_as_the_reference(tmp_path, data_parallel):
    netG, encoder = write_release(tmp_path, data_parallel=data_parallel)
    summary = convert(tmp_path / "netG_epoch_600.pth", tmp_path / "text_encoder200.pth",
                      tmp_path / "captions.pickle", tmp_path / "attngan.safetensors")
    assert summary["words"] == len(WORDS) and summary["resolution"] == 256
    loaded = load_gan(tmp_path / "attngan.safetensors")
    direct = gan_from_state_dict(file_tensors(netG, encoder), {"wordtoix": WORDS})
    torch.testing.assert_close(loaded.generate([3], text=CAPTION), direct.generate([3], text=CAPTION))
    save_gan(loaded, tmp_path / "again.safetensors")  # our own writer keeps the vocabulary
    assert load_gan(tmp_path / "again.safetensors").network.wordtoix == WORDS


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


def test_vocabulary_readers_refuse_code_and_accept_json_and_text(tmp_path):
    evil = tmp_path / "captions.pickle"
    evil.write_bytes(pickle.dumps([[], [], {}, RunsCode()]))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        read_words(evil)
    (tmp_path / "words.json").write_text(json.dumps({"wordtoix": WORDS}))
    (tmp_path / "words.txt").write_text("\n".join(sorted(WORDS, key=WORDS.get)) + "\n")
    assert read_words(tmp_path / "words.json") == WORDS == read_words(tmp_path / "words.txt")


def test_missing_or_oversized_vocabulary_is_a_clear_error(tmp_path):
    tensors = file_tensors(*reference_networks())
    with pytest.raises(GANError, match="vocabulary"):
        gan_from_state_dict(tensors, {}, "birds.safetensors")
    with pytest.raises(GANError, match="more words"):
        gan_from_state_dict(tensors, {"wordtoix": {**WORDS, "extra": len(WORDS)}}, "birds.safetensors")
