"""VQGAN against taming-transformers (PyPI: taming-transformers-rom1504, a reference only) on identical random
weights (max abs difference 1e-5), the key layout of the published ImageNet f16 checkpoints, and Lightning
checkpoints read without running pickled code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from engine.gan.lightning_ckpt import RefusedPickle, checkpoint_tensors
from engine.gan.vqgan import IMAGENET_F16_1024, IMAGENET_F16_16384, VQGAN, detect_vqgan, quantization_loss
from engine.gan.vqgan_files import VQGANError, load_vqgan, save_vqgan

taming_model = pytest.importorskip("taming.modules.diffusionmodules.model")
taming_quantize = pytest.importorskip("taming.modules.vqvae.quantize")

IMAGENET_DDCONFIG = dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
                         ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0)
TINY_DDCONFIG = dict(double_z=False, z_channels=8, resolution=32, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 2],
                     num_res_blocks=1, attn_resolutions=[8], dropout=0.0)


def taming_state_dict(ddconfig: dict, n_embed: int, embed_dim: int, seed: int = 0) -> tuple[dict, tuple]:
    """A VQModel's state dict as taming builds it (random weights; GroupNorms randomised too), plus its parts."""
    torch.manual_seed(seed)
    parts = (taming_model.Encoder(**ddconfig), taming_model.Decoder(**ddconfig),
             taming_quantize.VectorQuantizer2(n_embed, embed_dim, beta=0.25),
             torch.nn.Conv2d(ddconfig["z_channels"], embed_dim, 1),
             torch.nn.Conv2d(embed_dim, ddconfig["z_channels"], 1))
    sd = {}
    for prefix, part in zip(("encoder", "decoder", "quantize", "quant_conv", "post_quant_conv"), parts, strict=True):
        for name, value in part.state_dict().items():
            if name.endswith("norm.weight") or ".norm" in name:
                value.copy_(torch.randn_like(value) * 0.2 + 1 if name.endswith("weight") else torch.randn_like(value))
            sd[f"{prefix}.{name}"] = value
    sd["quantize.embedding.weight"].normal_()
    return sd, tuple(p.eval() for p in parts)


def test_encoder_and_decoder_keys_are_those_of_the_imagenet_f16_checkpoints():
    sd, _ = taming_state_dict(IMAGENET_DDCONFIG, 16384, 256)
    ours = VQGAN(IMAGENET_F16_16384).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in sd.items()}
    assert detect_vqgan(sd) == IMAGENET_F16_16384 and IMAGENET_F16_16384.attn_resolutions(256) == (16,)
    # Facts of the published files: 338 encoder/decoder tensors; the f16 attention lives in the deepest level.
    assert sum(k.startswith(("encoder.", "decoder.")) for k in ours) == 338
    assert "encoder.down.4.attn.1.proj_out.weight" in ours and "decoder.up.4.attn.2.q.weight" in ours
    assert "encoder.down.3.attn.0.q.weight" not in ours and ours["quantize.embedding.weight"].shape == (16384, 256)
    assert VQGAN(IMAGENET_F16_1024).state_dict()["quantize.embedding.weight"].shape == (1024, 256)


def test_matches_taming_on_identical_weights():
    sd, (encoder, decoder, quantizer, quant_conv, post_quant_conv) = taming_state_dict(TINY_DDCONFIG, 64, 4)
    ours = VQGAN(detect_vqgan(sd)).eval()
    ours.load_state_dict(sd)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        h = quant_conv(encoder(x))
        z_q, loss, (_, _, indices) = quantizer(h)
        expected = decoder(post_quant_conv(z_q))
        latent, codes = ours.encode(x)
        torch.testing.assert_close(ours.encode_latent(x), h, atol=1e-5, rtol=0)
        assert torch.equal(codes.flatten(), indices.flatten())
        torch.testing.assert_close(latent, z_q, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.decode(latent), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.decode_code(codes), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(quantization_loss(h, latent), loss, atol=1e-6, rtol=0)  # legacy beta
    new = taming_quantize.VectorQuantizer2(64, 4, beta=0.25, legacy=False)
    new.load_state_dict({"embedding.weight": sd["quantize.embedding.weight"]})
    torch.testing.assert_close(quantization_loss(h, latent, legacy=False), new(h)[1], atol=1e-6, rtol=0)




def lightning_checkpoint(sd: dict) -> dict:
    """The shape of a taming last.ckpt: training bookkeeping around the state dict, loss.* weights inside it,
    OmegaConf hyper-parameters (pickled as omegaconf classes) and callbacks keyed by their class."""
    from omegaconf import OmegaConf

    hparams = OmegaConf.create({"ddconfig": dict(TINY_DDCONFIG), "n_embed": 64, "embed_dim": 4})
    try:
        from pytorch_lightning.callbacks import ModelCheckpoint
    except ImportError:  # pragma: no cover - the reference extra installs it
        ModelCheckpoint = dict  # noqa: N806
    return {"epoch": 3, "global_step": 1234, "pytorch-lightning_version": "1.0.8",
            "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.5), "best_model_path": "x.ckpt"}},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4.5e-6}]}], "lr_schedulers": [],
            "state_dict": {**sd, "loss.discriminator.main.0.weight": torch.randn(4, 3, 4, 4)},
            "hparams_name": "kwargs", "hyper_parameters": hparams}


def test_lightning_checkpoint_is_read_without_running_code(tmp_path):
    sd, _ = taming_state_dict(TINY_DDCONFIG, 64, 4)
    torch.save(lightning_checkpoint(sd), tmp_path / "last.ckpt")
    with pytest.raises(pickle.UnpicklingError):  # what weights_only=True says of such files
        torch.load(tmp_path / "last.ckpt", weights_only=True)
    tensors = checkpoint_tensors(tmp_path / "last.ckpt")
    assert "loss.discriminator.main.0.weight" in tensors and torch.equal(tensors["encoder.conv_in.weight"],
                                                                          sd["encoder.conv_in.weight"])
    model = load_vqgan(tmp_path / "last.ckpt")
    assert model.config == detect_vqgan(sd) and "loss.discriminator.main.0.weight" not in model.network.state_dict()
    save_vqgan(model, tmp_path / "vqgan.safetensors")
    image = torch.rand(2, 30, 40, 3)
    assert torch.equal(load_vqgan(tmp_path / "vqgan.safetensors").reconstruct(image), model.reconstruct(image))
    assert model.reconstruct(image).shape == (2, 30, 40, 3)  # padded to the multiple of 4, cropped back
    latent, codes = model.encode(image)
    assert latent.shape == (2, 4, 8, 10) and codes.shape == (2, 8, 10)
    torch.testing.assert_close(model.decode(latent), model.decode_codes(codes))


class Payload:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": Payload(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(RefusedPickle, match="system"):
        checkpoint_tensors(tmp_path / "evil.ckpt")
    assert not marker.exists()


def test_other_files_are_refused_with_their_name(tmp_path):
    torch.save({"state_dict": {"netG.weight": torch.zeros(2)}}, tmp_path / "other.ckpt")
    with pytest.raises(VQGANError, match="other.ckpt"):
        load_vqgan(tmp_path / "other.ckpt")
