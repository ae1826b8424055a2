"""Our KL VAE against diffusers' AutoencoderKL (identical random weights), layout conversion, and the VAE
object's image/latent conventions, batching and tiling."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import engine.sd.vae as vae_module
from engine.device import Devices
from engine.sd.materialize import build_with_weights
from engine.sd.memory import module_bytes
from engine.sd.tiling import tile_starts, tiled_map
from engine.sd.vae import VAE, AutoencoderKL, VAEConfig, detect_vae_config, vae_compute_dtype
from engine.sd.vae_convert import diffusers_vae_to_ldm, is_diffusers_vae
from engine.sd.vae_model import AttnBlock
from tests.factories import TINY_VAE, random_module

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402

SD15_KEYS = Path("/work/shared/reference/sd15/sd15_keys.json")
REL_TOL = 1e-4  # max |ours - diffusers| / max |diffusers| in float32
# bf16 compute (fp16 files on CPUs with native bf16) against the fp32 path from the same fp16 weights. About
# half the difference is the weights' rounding from fp16 to bf16. Measured with random weights: decode max
# 9.9/255 and RMS 0.9% of the image; encode max 2.2% of the largest latent value and RMS 1.5%.
BF16_DECODE_MAX = 16 / 255  # largest pixel difference in 0..1 image units
BF16_DECODE_RMS = 0.02  # RMS difference / RMS of the fp32 image
BF16_ENCODE_MAX = 0.05  # largest difference / largest |latent|
BF16_ENCODE_RMS = 0.03


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
    monkeypatch.setattr(vae, "decode_tiled", lambda latent, **tiles: tiled.append(f"decode {tiles}") or latent)
    monkeypatch.setattr(vae, "_encode_tiles", lambda x, tile, overlap: tiled.append(f"encode {tile} {overlap}") or x)
    vae.decode(torch.zeros(1, 4, 2, 2))
    vae.encode(torch.zeros(1, 16, 16, 3))
    assert tiled == ["decode {'overlap': 8}", "encode 512 64"]  # the tiles Atelier's fallback always used


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
    assert torch.allclose(vae.decode_tiled(latent, tile_x=8, tile_y=8, overlap=2), vae.decode(latent), atol=1e-6)


def test_tiled_decode_and_encode_with_many_tiles(vae: VAE) -> None:
    latent = torch.randn(1, 4, 12, 10, generator=torch.Generator().manual_seed(7))
    image = vae.decode_tiled(latent, tile_x=6, tile_y=6, overlap=2)
    assert image.shape == (1, 96, 80, 3) and image.min() >= 0 and image.max() <= 1
    # Latent rows/cols 0..3 lie in the first tile only (tiles start at 0, 4, 6 and 0, 4): there the result
    # must be exactly that tile's own decode.
    first_tile = vae.decode(latent[:, :, :6, :6])
    assert torch.allclose(image[:, :32, :32], first_tile[:, :32, :32], atol=1e-5)
    encoded = vae.encode_tiled(image, tile_x=48, tile_y=48, overlap=16)
    assert encoded.shape == (1, 4, 12, 10)
    assert torch.allclose(vae.encode_tiled(image, tile_x=128, tile_y=128, overlap=16), vae.encode(image), atol=1e-6)


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


CPU_BF16, CPU_FP32 = Devices(cpu_only=True, cpu_bf16=True), Devices(cpu_only=True, cpu_bf16=False)


def half_precision_vae(config: VAEConfig, devices: Devices = CPU_BF16, seed: int = 0) -> VAE:
    """A VAE loaded from an fp16 file's tensors, kept in fp16."""
    sd = {k: v.half() for k, v in random_module(AutoencoderKL, config, seed).state_dict().items()}
    return VAE(build_with_weights(lambda: AutoencoderKL(config), sd), devices=devices)


def test_cpu_compute_dtype_follows_the_unet_rule() -> None:
    cpu = torch.device("cpu")
    assert vae_compute_dtype(torch.float16, cpu, CPU_BF16) == torch.bfloat16
    assert vae_compute_dtype(torch.bfloat16, cpu, CPU_BF16) == torch.bfloat16
    assert vae_compute_dtype(torch.float32, cpu, CPU_BF16) == torch.float32  # fp32 files stay fp32: no second copy
    assert vae_compute_dtype(torch.float16, cpu, CPU_FP32) == torch.float32


def bf16_and_fp32(vae: VAE, run: Callable[[VAE], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``run`` on ``vae``'s weights computed in bf16, then in fp32."""
    bf16, fp32 = (VAE(vae.model, devices=devices) for devices in (CPU_BF16, CPU_FP32))
    assert next(bf16._compute_model().parameters()).dtype == torch.bfloat16
    return run(bf16), run(fp32)


def assert_bf16_close(bf16: torch.Tensor, fp32: torch.Tensor, max_tol: float, rms_tol: float, scale: float) -> None:
    diff = bf16 - fp32
    max_diff, rms = diff.abs().max().item() / scale, (diff.norm() / fp32.norm()).item()
    assert max_diff < max_tol and rms < rms_tol, f"max {max_diff:.3g}, rms {rms:.3g}"


def test_bf16_decode_and_encode_stay_close_to_fp32() -> None:
    vae = half_precision_vae(TINY_VAE)
    z = torch.randn(2, 4, 12, 10, generator=torch.Generator().manual_seed(10))
    pixels = torch.rand(1, 64, 56, 3, generator=torch.Generator().manual_seed(11))
    bf16, fp32 = bf16_and_fp32(vae, lambda v: v.decode(z))
    assert bf16.dtype == torch.float32 and bf16.is_contiguous()
    assert_bf16_close(bf16, fp32, BF16_DECODE_MAX, BF16_DECODE_RMS, 1.0)
    bf16, fp32 = bf16_and_fp32(vae, lambda v: v.encode(pixels))
    assert bf16.is_contiguous()
    assert_bf16_close(bf16, fp32, BF16_ENCODE_MAX, BF16_ENCODE_RMS, fp32.abs().max().item())


def test_bf16_weights_are_never_copied_and_stored_weights_are_untouched() -> None:
    held = half_precision_vae(TINY_VAE)  # as the loaders hold an fp16 file's VAE on such a CPU: in bf16
    held.model.bfloat16()
    held.decode(torch.randn(1, 4, 4, 4))
    assert held._compute_model() is held.model and held.memory_bytes() == module_bytes(held.model)
    stored = half_precision_vae(TINY_VAE)  # kept in fp16 (e.g. weights also used on a GPU): one bf16 copy
    before = {k: v.clone() for k, v in stored.model.state_dict().items()}
    stored.decode(torch.randn(1, 4, 4, 4))
    assert stored.memory_bytes() == 2 * module_bytes(stored.model)
    for key, tensor in stored.model.state_dict().items():
        assert tensor.is_contiguous() and torch.equal(tensor, before[key]), key


def test_attention_block_uses_pixel_rows_in_any_layout() -> None:
    block = random_module(AttnBlock, 64, 12)
    x = torch.randn(2, 64, 6, 5, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        n = block.norm(x).flatten(2)
        q, k, v = (F.conv1d(n, conv.weight[..., 0], conv.bias) for conv in (block.q, block.k, block.v))
        weights = torch.softmax(q.transpose(1, 2) @ k / 64**0.5, dim=-1)  # [B, HW, HW]
        expected = x + block.proj_out((v @ weights.transpose(1, 2)).reshape(x.shape))
        for layout in (torch.contiguous_format, torch.channels_last):
            assert torch.allclose(block(x.contiguous(memory_format=layout)), expected, atol=1e-5), layout


def test_mid_block_attention_does_not_build_the_pixel_by_pixel_scores() -> None:
    block = random_module(AttnBlock, 64, 13).bfloat16()
    x = torch.randn(1, 64, 16, 16).bfloat16().contiguous(memory_format=torch.channels_last)
    with torch.profiler.profile() as prof, torch.inference_mode():
        out = block(x)
    ops = {event.key for event in prof.key_averages()}
    assert "aten::_scaled_dot_product_attention_math" not in ops and "aten::bmm" not in ops
    assert "aten::contiguous" not in ops and out.is_contiguous(memory_format=torch.channels_last)


def test_decode_gradients_match_diffusers(models: tuple) -> None:
    """The decoder's in-place SiLU and residual add must leave training (training/digits) correct."""
    ours, theirs = models
    z = torch.randn(1, 4, 4, 5, generator=torch.Generator().manual_seed(14))
    grads = []
    for decode in (ours.decode, lambda t: theirs.decode(t).sample):
        zz = z.clone().requires_grad_(True)
        (decode(zz) ** 2).sum().backward()
        grads.append(zz.grad)
    assert_close(grads[0], grads[1])


@pytest.mark.slow
def test_full_size_bf16_decode_stays_close_to_fp32() -> None:
    vae = half_precision_vae(VAEConfig())
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(15))
    bf16, fp32 = bf16_and_fp32(vae, lambda v: v.decode(z))
    assert_bf16_close(bf16, fp32, BF16_DECODE_MAX, BF16_DECODE_RMS, 1.0)
