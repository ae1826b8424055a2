"""Our KL VAE against diffusers' AutoencoderKL (identical random weights), layout conversion, and the VAE
object's image/latent conventions, batching and tiling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import engine.sd.vae as vae_module
from engine.sd.tiling import tile_starts, tiled_map
from engine.sd.vae import VAE, AutoencoderKL, VAEConfig, detect_vae_config
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae
from tests.factories import TINY_VAE, random_module

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402

SD15_KEYS = Path("/work/shared/reference/sd15/sd15_keys.json")
REL_TOL = 1e-4  # max |ours - diffusers| / max |diffusers| in float32


def diffusers_config(c: VAEConfig) -> dict:
    return {
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "down_block_types": ("DownEncoderBlock2D",) * len(c.ch_mult),
        "up_block_types": ("UpDecoderBlock2D",) * len(c.ch_mult),
        "block_out_channels": tuple(c.ch * m for m in c.ch_mult),
        "layers_per_block": c.num_res_blocks,
        "latent_channels": c.z_channels,
        "norm_num_groups": 32,
        "sample_size": 64,
    }


@pytest.fixture(scope="module")
def models() -> tuple[AutoencoderKL, torch.nn.Module]:
    ours = random_module(AutoencoderKL, TINY_VAE, 0)
    config = diffusers_config(TINY_VAE)
    converted = convert_ldm_vae_checkpoint(ours.state_dict(), config)
    theirs = diffusers.AutoencoderKL(**config).eval()
    theirs.load_state_dict(converted, strict=True)
    return ours, theirs


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    scale = theirs.abs().max().item()
    assert scale > 1e-2, "reference output is trivially small; the comparison would not be meaningful"
    rel = (ours - theirs).abs().max().item() / scale
    assert rel < REL_TOL, f"max relative difference {rel:.2e}"


def test_encode_matches_diffusers_posterior_mean(models: tuple) -> None:
    ours, theirs = models
    x = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        assert_close(ours.encode(x), theirs.encode(x).latent_dist.mean)


def test_decode_matches_diffusers(models: tuple) -> None:
    ours, theirs = models
    z = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(ours.decode(z), theirs.decode(z).sample)


def test_diffusers_layout_converts_back_to_ldm(models: tuple) -> None:
    ours, theirs = models
    converted = diffusers_vae_to_ldm(theirs.state_dict())
    expected = ours.state_dict()
    assert is_diffusers_vae(theirs.state_dict()) and not is_diffusers_vae(expected)
    assert set(converted) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(converted[key], tensor), key


def test_detects_config() -> None:
    assert detect_vae_config(random_module(AutoencoderKL, TINY_VAE, 0).state_dict()) == TINY_VAE


@pytest.mark.skipif(not SD15_KEYS.exists(), reason="SD1.5 key list not available")
def test_detects_real_sd15_vae_layout() -> None:
    tensors = json.loads(SD15_KEYS.read_text())["tensors"]
    prefix = "first_stage_model."
    sd = {k[len(prefix) :]: torch.empty(v["shape"], device="meta") for k, v in tensors.items() if k.startswith(prefix)}
    assert detect_vae_config(sd) == VAEConfig()  # SD: ch 128, mult (1,2,4,4), 2 res blocks, 4 latent channels
    with torch.device("meta"):
        assert sum(p.numel() for p in AutoencoderKL(VAEConfig()).parameters()) == 83_653_863


@pytest.fixture
def vae(models: tuple) -> VAE:
    return VAE(models[0])


def test_vae_object_maps_image_range_and_layout(vae: VAE, models: tuple) -> None:
    ours, _ = models
    pixels = torch.rand(2, 32, 40, 3, generator=torch.Generator().manual_seed(2))
    latent = vae.encode(pixels)
    assert latent.shape == (2, 4, 4, 5) and latent.dtype == torch.float32
    with torch.no_grad():
        expected = ours.encode(pixels.movedim(-1, 1) * 2 - 1)
    assert torch.allclose(latent, expected, atol=1e-6)
    image = vae.decode(latent)
    assert image.shape == (2, 32, 40, 3)
    assert image.min() >= 0 and image.max() <= 1
    with torch.no_grad():
        raw = (ours.decode(latent) + 1) / 2
    assert torch.allclose(image, raw.clamp(0, 1).movedim(1, -1), atol=1e-6)


def test_encode_crops_to_multiples_of_8_centred(vae: VAE) -> None:
    pixels = torch.rand(1, 37, 42, 4, generator=torch.Generator().manual_seed(3))  # extra alpha channel
    latent = vae.encode(pixels)
    assert latent.shape == (1, 4, 4, 5)
    assert torch.allclose(latent, vae.encode(pixels[:, 2:34, 1:41, :3]), atol=1e-6)


def test_batches_are_split_when_memory_is_short(vae: VAE, monkeypatch: pytest.MonkeyPatch) -> None:
    latent = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(4))
    whole = vae.decode(latent)
    assert vae.items_that_fit(32 * 32) >= 3
    calls: list[int] = []
    real_decode = vae._compute_model().decode
    monkeypatch.setattr(vae, "items_that_fit", lambda _pixels: 1)
    monkeypatch.setattr(vae._compute_model(), "decode", lambda z: calls.append(len(z)) or real_decode(z))
    assert torch.allclose(vae.decode(latent), whole, atol=1e-5)  # batch size changes kernel choice
    assert calls == [1, 1, 1]


def test_images_too_large_for_memory_are_tiled(vae: VAE, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vae_module, "free_memory_bytes", lambda _device: 0)
    tiled: list[str] = []
    monkeypatch.setattr(vae, "decode_tiled", lambda latent: tiled.append("decode") or latent)
    monkeypatch.setattr(vae, "_encode_tiles", lambda x, tile, overlap: tiled.append(f"encode {tile} {overlap}") or x)
    vae.decode(torch.zeros(1, 4, 2, 2))
    vae.encode(torch.zeros(1, 16, 16, 3))
    assert tiled == ["decode", "encode 512 64"]


def test_tile_starts_cover_and_align() -> None:
    assert tile_starts(100, 128, 16) == [0]
    starts = tile_starts(200, 64, 16, align=8)
    assert starts[0] == 0 and starts[-1] == 200 - 64
    assert all(s % 8 == 0 for s in starts)
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:], strict=False))


def test_tiled_map_blends_seams_exactly_for_a_local_function() -> None:
    # A pixel-local function gives identical values in every tile, so blending must reproduce it exactly.
    x = torch.randn(1, 4, 21, 30, generator=torch.Generator().manual_seed(5))

    def fn(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t[:, :3] * 2 + 1, scale_factor=8, mode="nearest")

    assert torch.allclose(tiled_map(x, fn, tile=8, overlap=3, scale=8, out_channels=3), fn(x), atol=1e-6)


def test_decode_tiled_equals_decode_when_one_tile_covers_all(vae: VAE) -> None:
    latent = torch.randn(1, 4, 6, 7, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(vae.decode_tiled(latent, tile_size=64, overlap=16), vae.decode(latent), atol=1e-6)


def test_tiled_decode_and_encode_with_many_tiles(vae: VAE) -> None:
    latent = torch.randn(1, 4, 12, 10, generator=torch.Generator().manual_seed(7))
    image = vae.decode_tiled(latent, tile_size=48, overlap=16)
    assert image.shape == (1, 96, 80, 3) and image.min() >= 0 and image.max() <= 1
    # Latent rows/cols 0..3 lie in the first tile only (tiles start at 0, 4, 6 and 0, 4): there the result
    # must be exactly that tile's own decode.
    first_tile = vae.decode(latent[:, :, :6, :6])
    assert torch.allclose(image[:, :32, :32], first_tile[:, :32, :32], atol=1e-5)
    encoded = vae.encode_tiled(image, tile_size=48, overlap=16)
    assert encoded.shape == (1, 4, 12, 10)
    assert torch.allclose(vae.encode_tiled(image, tile_size=128, overlap=16), vae.encode(image), atol=1e-6)


@pytest.mark.slow
def test_full_size_sd_vae_matches_diffusers() -> None:
    ours = random_module(AutoencoderKL, VAEConfig(), 0)
    config = diffusers_config(VAEConfig())
    theirs = diffusers.AutoencoderKL(**config).eval()
    theirs.load_state_dict(convert_ldm_vae_checkpoint(ours.state_dict(), config), strict=True)
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(8))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(9)) * 2 - 1
    with torch.no_grad():
        assert_close(ours.decode(z), theirs.decode(z).sample)
        assert_close(ours.encode(x), theirs.encode(x).latent_dist.mean)
