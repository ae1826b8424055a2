"""StackGAN++ against the reference definitions (tests/engine/stacked_gan_references.py, written out from
hanzhanggit/StackGAN-v2) on identical random weights, the published birds/LSUN key layouts, and the converter."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.gan import GANError, gan_from_state_dict, load_gan, save_gan
from engine.gan.convert_stackgan import convert, read_embeddings
from engine.gan.stackgan import build_stackgan
from tests.engine.stacked_gan_references import STACK_G_NET, randomized, stackgan_cfg

TINY = {"gf_dim": 8, "z_dim": 6, "embedding_dim": 5, "text_dim": 12, "r_num": 1}


def reference_netG(seed: int = 0, **sizes) -> STACK_G_NET:
    return randomized(STACK_G_NET(stackgan_cfg(**{**TINY, **sizes})), seed)


def embeddings(rows: int = 4, dim: int = 12) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(9))


def file_tensors(netG: torch.nn.Module, rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    tensors = {f"netG.{key}": value.clone() for key, value in netG.state_dict().items()}
    if rows is not None:
        tensors["embeddings"] = rows
    return tensors


def test_conditioned_stages_match_the_reference_on_identical_random_weights():
    netG, rows = reference_netG(), embeddings()
    ours = gan_from_state_dict(file_tensors(netG, rows), {"captions": ["a", "b", "this bird is red", "d"]})
    assert ours.kind == "stackgan" and ours.needs_text and ours.resolution == 256 and ours.z_dim == 6 + 5
    z = torch.randn(2, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.manual_seed(11)
        expected, _, _ = netG(z, rows[2].expand(2, -1))
        torch.manual_seed(11)
        eps = torch.FloatTensor(2, 5).normal_()  # what the reference's reparametrize drew
        got = ours.network.stages(torch.cat([z, eps], dim=1), "2")
        by_caption = ours.network.stages(torch.cat([z, eps], dim=1), " This bird is RED")
    assert [tuple(image.shape[-2:]) for image in got] == [(64, 64), (128, 128), (256, 256)]
    for ours_stage, reference_stage, caption_stage in zip(got, expected, by_caption, strict=True):
        torch.testing.assert_close(ours_stage, reference_stage, atol=1e-5, rtol=0)
        torch.testing.assert_close(caption_stage, ours_stage)


def test_unconditional_stages_match_the_reference():
    netG = reference_netG(seed=2, b_condition=False)
    ours = gan_from_state_dict(file_tensors(netG))
    assert not ours.needs_text and ours.z_dim == 6
    z = ours.sample_z([7, 8])
    with torch.no_grad():
        expected, _, _ = netG(z)
        got = ours.network.stages(z)
    for ours_stage, reference_stage in zip(got, expected, strict=True):
        torch.testing.assert_close(ours_stage, reference_stage, atol=1e-5, rtol=0)
    assert ours.generate([7, 8]).shape == (2, 256, 256, 3)


def test_text_picks_an_embedding_row_and_errors_are_clear():
    gan = gan_from_state_dict(file_tensors(reference_netG(), embeddings()))
    assert not torch.allclose(gan.generate([1], text="0"), gan.generate([1], text="1"))
    with pytest.raises(ValueError, match="row number 0..3"):
        gan.generate([1], text="4")
    with pytest.raises(ValueError, match="text-conditioned"):
        gan.generate([1])
    with pytest.raises(GANError, match="embeddings"):
        gan_from_state_dict(file_tensors(reference_netG()))


def test_birds_and_lsun_key_layouts_and_parameter_counts():
    """Every key and shape of code/cfg/birds_3stages.yml (GF_DIM 64, Z_DIM 100, EMBEDDING_DIM 128, R_NUM 2, 1024-d
    char-CNN-RNN embeddings) and of the unconditional LSUN/ImageNet configurations (B_CONDITION False); the counts
    are the reference definitions' own."""
    for condition, params in ((True, 21_239_696), (False, 16_472_208)):
        reference = STACK_G_NET(stackgan_cfg(b_condition=condition))
        tensors = file_tensors(reference, torch.zeros(3, 1024) if condition else None)
        ours = build_stackgan(tensors)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape)
                                                                             for k, v in tensors.items()}
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters()) == params
        assert tuple(tensors["netG.h_net1.fc.0.weight"].shape) == (64 * 16 * 32, 228 if condition else 100)
        assert ours.resolution == 256


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


def test_embedding_files_and_the_refusal_of_code(tmp_path):
    rows = np.random.default_rng(0).standard_normal((3, 2, 12)).astype(np.float32)  # 3 images x 2 captions
    np.save(tmp_path / "rows.npy", rows)
    save_file({"embeddings": torch.from_numpy(rows)}, str(tmp_path / "rows.safetensors"))
    with (tmp_path / "char-CNN-RNN-embeddings.pickle").open("wb") as handle:
        pickle.dump(list(rows), handle, protocol=2)  # the dataset's layout: one array per image
    for name in ("rows.npy", "rows.safetensors", "char-CNN-RNN-embeddings.pickle"):
        read = read_embeddings(tmp_path / name)
        assert read.shape == (6, 12)
        torch.testing.assert_close(read[3], torch.from_numpy(rows[1, 1]))  # image 1, caption 1
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps([RunsCode()]))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        read_embeddings(tmp_path / "evil.pickle")


def test_converter_from_a_data_parallel_checkpoint(tmp_path):
    netG, rows = reference_netG(seed=4), embeddings(rows=2)
    torch.save({f"module.{key}": value for key, value in netG.state_dict().items()}, tmp_path / "netG_210000.pth")
    np.save(tmp_path / "rows.npy", rows.numpy())
    (tmp_path / "captions.txt").write_text("a red bird\na blue bird\n")
    summary = convert(tmp_path / "netG_210000.pth", tmp_path / "birds.safetensors", tmp_path / "rows.npy",
                      tmp_path / "captions.txt")
    assert summary == {"tensors": len(netG.state_dict()) + 1, "embeddings": 2, "resolution": 256}
    loaded = load_gan(tmp_path / "birds.safetensors")
    direct = gan_from_state_dict(file_tensors(netG, rows))
    torch.testing.assert_close(loaded.generate([3], text="a blue bird"), direct.generate([3], text="1"))
    save_gan(loaded, tmp_path / "again.safetensors")
    assert load_gan(tmp_path / "again.safetensors").network.captions == ["a red bird", "a blue bird"]
    unconditional = reference_netG(b_condition=False)
    torch.save(unconditional.state_dict(), tmp_path / "netG_church.pth")
    assert convert(tmp_path / "netG_church.pth", tmp_path / "church.safetensors")["embeddings"] == 0
    with pytest.raises(ValueError, match="unconditional"):
        convert(tmp_path / "netG_church.pth", tmp_path / "x.safetensors", tmp_path / "rows.npy")
