"""Reading weights files, checkpoint family checks, the model cache and the MODEL object (apply, patches)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

from engine.device import Devices
from engine.model_cache import ModelCache
from engine.sd import families
from engine.sd.checkpoint import checkpoint_family, read_checkpoint
from engine.sd.components import CheckpointError, vae_from_state_dict
from engine.sd.latent_format import SD15
from engine.sd.materialize import build_with_weights
from engine.sd.model import DiffusionModel
from engine.sd.model_files import load_diffusion_model, load_vae
from engine.sd.state_dict import WeightsFileError, load_state_dict, with_prefix
from engine.sd.unet import UNetModel, detect_unet_config
from engine.sd.vae import vae_compute_dtype
from tests.factories import (
    TINY_CLIP,
    TINY_UNET,
    TINY_VAE,
    save_weights,
    tiny_clip_state_dict,
    tiny_unet_state_dict,
    write_tiny_sd15_checkpoint,
    write_tiny_vae,
)

HAS_SAMPLING = importlib.util.find_spec("engine.sampling.model_sampling") is not None
HAS_CLIP = importlib.util.find_spec("engine.sd.clip") is not None
needs_colleagues = pytest.mark.skipif(
    not (HAS_SAMPLING and HAS_CLIP),
    reason="read_checkpoint needs engine.sampling.model_sampling and engine.sd.clip (written by colleagues)",
)
UNET = "model.diffusion_model."


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_state_dict_keeps_file_dtype(tmp_path: Path, dtype: torch.dtype, suffix: str) -> None:
    path = write_tiny_sd15_checkpoint(tmp_path / f"tiny{suffix}", seed=3, dtype=dtype)
    sd = load_state_dict(path)
    expected = tiny_unet_state_dict(3)
    key = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    assert sd[UNET + key].dtype == dtype
    assert torch.equal(sd[UNET + key], expected[key].to(dtype))
    assert sd["cond_stage_model.transformer.text_model.embeddings.position_ids"].dtype == torch.int64


def test_ckpt_without_wrapper_and_pickled_code_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save({"a": torch.ones(2)}, plain)
    assert torch.equal(load_state_dict(plain)["a"], torch.ones(2))
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"a": torch.ones(1)}, "payload": Path("x")}, evil)  # not an allowed global
    with pytest.raises(WeightsFileError, match="evil.ckpt"):
        load_state_dict(evil)


def test_corrupt_safetensors_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsFileError, match="broken.safetensors"):
        load_state_dict(bad)


def test_unet_adopts_file_tensors_without_copying(tmp_path: Path) -> None:
    sd = with_prefix(load_state_dict(write_tiny_sd15_checkpoint(tmp_path / "t.safetensors", dtype=torch.float16)), UNET)
    unet = build_with_weights(lambda: UNetModel(detect_unet_config(sd)), sd)
    assert unet.config == TINY_UNET
    for key, tensor in unet.state_dict().items():
        assert tensor.data_ptr() == sd[key].data_ptr() and tensor.dtype == torch.float16, key


def test_unknown_file_error_names_file_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "mystery.safetensors"
    safetensors.torch.save_file({"some.weight": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match=r"mystery\.safetensors.*model\.diffusion_model\."):
        checkpoint_family(load_state_dict(path), path)


@pytest.mark.parametrize(
    ("extra_key", "shape", "message"),
    [
        (UNET + "joint_blocks.0.context_block.attn.qkv.weight", (8, 4), "SD3.*not supported"),
        (UNET + "double_blocks.0.img_attn.qkv.weight", (8, 4), "Flux.*not supported"),
        (UNET + "input_blocks.0.0.weight", (32, 7, 3, 3), "7 input channels.*not supported"),  # 8: IP2P
    ],
)
def test_unsupported_families_are_named(tmp_path: Path, extra_key: str, shape: tuple[int, ...], message: str) -> None:
    sd = load_state_dict(write_tiny_sd15_checkpoint(tmp_path / "base.safetensors"))
    sd[extra_key] = torch.zeros(shape)
    with pytest.raises(CheckpointError, match=rf"x\.safetensors: .*{message}"):
        checkpoint_family(sd, tmp_path / "x.safetensors")


def test_a_checkpoint_without_a_text_encoder_is_named(tmp_path: Path) -> None:
    sd = load_state_dict(write_tiny_sd15_checkpoint(tmp_path / "base.safetensors"))
    sd = {k: v for k, v in sd.items() if not k.startswith("cond_stage_model.")}
    with pytest.raises(CheckpointError, match="text encoder prefix"):
        checkpoint_family(sd, tmp_path / "x.safetensors")


def test_tiny_checkpoint_is_sd1(tmp_path: Path) -> None:
    path = write_tiny_sd15_checkpoint(tmp_path / "ok.safetensors")
    assert checkpoint_family(load_state_dict(path), path) is families.SD1


CPU = torch.device("cpu")


def on_cpu(cpu_bf16: bool) -> Devices:
    """Compute on the CPU, half-precision files in bf16 or fp32 whatever the CPU has."""
    return Devices(cpu_only=True, cpu_bf16=cpu_bf16)


@pytest.mark.parametrize(("dtype", "cpu_bf16"), [(torch.float32, True), (torch.float16, False),
                                              (torch.bfloat16, False), (torch.float16, True)])
def test_vae_file_is_read_in_its_compute_dtype_and_decodes_as_its_weights_do(
    tmp_path: Path, dtype: torch.dtype, cpu_bf16: bool
) -> None:
    devices = on_cpu(cpu_bf16)
    path = write_tiny_vae(tmp_path / "vae.safetensors", dtype=dtype)
    vae = load_vae(path, devices)
    assert load_vae(path, devices) is not vae  # no cache in the engine: each call reads afresh
    compute = vae_compute_dtype(dtype, CPU, devices)
    assert next(vae.model.parameters()).dtype == compute
    latent = torch.randn(1, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    image = vae.decode(latent)
    assert image.shape == (1, 24, 40, 3) and image.dtype == torch.float32
    assert vae._compute_model() is vae.model  # one resident copy: no converted copy beside the stored one
    reference = vae_from_state_dict({k: v.to(compute) for k, v in load_state_dict(path).items()}, devices)
    expected = reference.decode(latent)
    assert (image - expected).abs().max() <= 1e-6 * expected.abs().max()  # same weights


def test_vae_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notavae.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="notavae.safetensors.*encoder.conv_in.weight"):
        load_vae(path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(write_tiny_vae(tmp_path / "full.safetensors").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        load_vae(truncated)


def test_cache_reloads_changed_files_and_evicts_oldest_first(tmp_path: Path) -> None:
    free = [10**15]
    cache = ModelCache(free_bytes=lambda: free[0])
    a = write_tiny_vae(tmp_path / "a.safetensors", seed=1)
    b = write_tiny_vae(tmp_path / "b.safetensors", seed=2)
    first = cache.load(a, "vae", load_vae)
    assert cache.load(a, "vae", load_vae) is first
    cache.load(b, "vae", load_vae)
    assert cache.total_bytes > 0 and len(cache) == 2
    write_tiny_vae(a, seed=3)
    os.utime(a, ns=(0, a.stat().st_mtime_ns + 10**9))
    assert cache.load(a, "vae", load_vae) is not first and len(cache) == 2  # stale entry replaced, not kept
    free[0] = 0
    assert cache.evict_until(100) == 2 and len(cache) == 0
    free[0] = 10**15
    cache.load(b, "vae", load_vae)
    cache.clear()
    assert len(cache) == 0 and cache.total_bytes == 0


class FakeSampling:
    """EPS parameterisation with an arbitrary sigma->timestep map, to check apply's plumbing."""

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma * 37.0

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x / (sigma[:, None, None, None] ** 2 + 1) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - out * sigma[:, None, None, None]


def tiny_model(dtype: torch.dtype = torch.float32, devices: Devices | None = None) -> DiffusionModel:
    sd = {k: v.to(dtype) for k, v in tiny_unet_state_dict(0).items()}
    unet = build_with_weights(lambda: UNetModel(TINY_UNET), sd)
    return DiffusionModel(unet, FakeSampling(), SD15, devices=devices or Devices())


def model_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, 4, 8, 8, generator=gen), torch.tensor([14.6, 0.9]), torch.randn(2, 5, 32, generator=gen)


@pytest.mark.parametrize(
    ("dtype", "cpu_bf16", "compute", "rel_tol"),
    [
        (torch.float32, True, torch.float32, 1e-4),
        (torch.float16, False, torch.float32, 1e-4),
        (torch.float16, True, torch.bfloat16, 5e-2),
    ],
)
def test_apply_runs_the_unet_between_model_sampling_steps(
    dtype: torch.dtype, cpu_bf16: bool, compute: torch.dtype, rel_tol: float
) -> None:
    model = tiny_model(dtype, on_cpu(cpu_bf16))
    x, sigma, ctx = model_inputs()
    unet = UNetModel(TINY_UNET).eval()
    unet.load_state_dict({k: v.float() for k, v in model.unet.state_dict().items()})
    with torch.no_grad():
        eps = unet(x / (sigma[:, None, None, None] ** 2 + 1) ** 0.5, sigma * 37.0, ctx)
    expected = x - eps * sigma[:, None, None, None]
    got = model.apply(x, sigma, ctx)
    assert got.dtype == torch.float32
    with model.patched_unet() as runner:
        assert next(runner.parameters()).dtype == compute
    assert (got - expected).abs().max() <= rel_tol * expected.abs().max()
    assert next(model.unet.parameters()).dtype == dtype  # the stored weights keep the file dtype


def test_patches_apply_to_a_clone_only_and_equal_a_modified_weight() -> None:
    base = tiny_model()
    x, sigma, ctx = model_inputs()
    before = base.apply(x, sigma, ctx)
    key = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    delta = 0.5 * torch.randn(base.unet.state_dict()[key].shape, generator=torch.Generator().manual_seed(9))
    stored = base.unet.state_dict()[key].clone()

    patched = base.clone()
    patched.add_patch(key, lambda w: w + delta)
    out = patched.apply(x, sigma, ctx)

    reference = tiny_model()
    reference.unet.state_dict()[key].add_(delta)
    assert torch.allclose(out, reference.apply(x, sigma, ctx), atol=1e-5)
    assert (out - before).abs().max() > 1e-3
    assert torch.equal(base.unet.state_dict()[key], stored)  # the shared weight is untouched
    assert torch.equal(base.apply(x, sigma, ctx), before)
    assert patched.clone().patches.keys() == {key} and not base.patches
    with pytest.raises(KeyError, match="no weight named"):
        patched.add_patch("nope.weight", lambda w: w)


def test_channels_last_gives_the_same_prediction() -> None:
    model = tiny_model(torch.float16, on_cpu(False))
    x, sigma, ctx = model_inputs()
    expected = model.apply(x, sigma, ctx)
    model.set_channels_last()
    with model.patched_unet() as runner:
        assert runner.input_blocks[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    got = model.apply(x, sigma, ctx)
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


@needs_colleagues
def test_read_checkpoint_returns_model_clip_vae(tmp_path: Path) -> None:
    path = write_tiny_sd15_checkpoint(tmp_path / "tiny.safetensors", dtype=torch.float16)
    model, clip, vae = read_checkpoint(path)
    again, _, vae2 = read_checkpoint(path)
    assert again.unet is not model.unet and vae2 is not vae  # no cache in the engine: fresh objects each read
    assert model.unet.config == TINY_UNET and clip is not None
    x, sigma, ctx = model_inputs()
    assert model.apply(x, sigma, ctx).shape == x.shape
    assert vae.decode(torch.zeros(1, 4, 2, 2)).shape == (1, 16, 16, 3)


@needs_colleagues
@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_checkpoint_weights_are_read_in_their_compute_dtype_once(tmp_path: Path, cpu_bf16: bool) -> None:
    """On the CPU an fp16 file's UNet and text encoder are held in the dtype they compute in, with no second copy;
    the values are the file's, converted."""
    devices = on_cpu(cpu_bf16)
    path = write_tiny_sd15_checkpoint(tmp_path / "tiny.safetensors", seed=3, dtype=torch.float16)
    model, clip, vae = read_checkpoint(path, devices)
    compute = devices.compute_dtype(torch.float16, CPU)
    assert {p.dtype for p in model.unet.parameters()} == {compute}
    assert {p.dtype for p in clip.model.parameters()} == {compute}
    assert {p.dtype for p in vae.model.parameters()} == {vae_compute_dtype(torch.float16, CPU, devices)}
    x, sigma, ctx = model_inputs()
    model.apply(x, sigma, ctx)
    clip.encode_text("a cat")
    with model.patched_unet() as runner:
        assert runner is model.unet
    assert clip._compute_model() is clip.model
    key = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    assert torch.equal(model.unet.state_dict()[key], tiny_unet_state_dict(3)[key].half().to(compute))


@needs_colleagues
def test_two_policies_coexist_in_one_process(tmp_path: Path) -> None:
    """Two runtimes with different device policies read the same fp16 file each their own way, side by side."""
    path = write_tiny_sd15_checkpoint(tmp_path / "tiny.safetensors", seed=4, dtype=torch.float16)
    policies = {torch.float32: on_cpu(False), torch.bfloat16: on_cpu(True)}
    read = {dtype: read_checkpoint(path, devices) for dtype, devices in policies.items()}
    x, sigma, ctx = model_inputs()
    for dtype, (model, clip, vae) in read.items():
        devices = policies[dtype]
        assert {p.dtype for p in model.unet.parameters()} == {p.dtype for p in clip.model.parameters()} == {dtype}
        assert {p.dtype for p in vae.model.parameters()} == {vae_compute_dtype(torch.float16, CPU, devices)}
        model, clip = model.clone(), clip.clone()
        assert model.devices == clip.devices == vae.devices == devices  # clones keep their policy
        assert model.apply(x, sigma, ctx).dtype == torch.float32
        with model.patched_unet() as runner:
            assert runner is model.unet  # it computes in the dtype it holds: no converted copy
        clip.encode_text("a cat")
        assert clip._compute_model() is clip.model


class OnAGpu(Devices):
    """A policy whose compute device is a GPU, for checking what is kept on the CPU without one."""

    def compute_device(self) -> torch.device:
        return torch.device("cuda")


@needs_colleagues
def test_weights_kept_for_an_accelerator_stay_in_file_dtype(tmp_path: Path) -> None:
    """When models compute on a GPU the CPU keeps the file's dtype; the compute copy is made on the GPU."""
    path = write_tiny_sd15_checkpoint(tmp_path / "tiny.safetensors", dtype=torch.float16)
    model, clip, vae = read_checkpoint(path, OnAGpu())
    for module in (model.unet, clip.model, vae.model):
        assert {(p.device.type, p.dtype) for p in module.parameters()} == {("cpu", torch.float16)}


@needs_colleagues
@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_read_checkpoint_unknown_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"unknown{suffix}"
    if suffix == ".ckpt":
        torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    else:
        safetensors.torch.save_file({"w": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match=f"unknown{suffix}"):
        read_checkpoint(path)


@pytest.mark.skipif(not HAS_SAMPLING, reason="needs engine.sampling.model_sampling (written by a colleague)")
def test_unet_only_file_loads_with_or_without_prefix(tmp_path: Path) -> None:
    sd = tiny_unet_state_dict(4)
    bare = save_weights(sd, tmp_path / "bare.safetensors", torch.float16)
    prefixed = save_weights({UNET + k: v for k, v in sd.items()}, tmp_path / "prefixed.safetensors", torch.float16)
    for path in (bare, prefixed):
        model = load_diffusion_model(path)
        assert model.unet.config == TINY_UNET and model.family is families.SD1
        weight = model.unet.state_dict()["out.2.weight"]
        assert torch.equal(weight, sd["out.2.weight"].half().to(weight.dtype))
    with pytest.raises(CheckpointError, match="notunet.safetensors"):
        load_diffusion_model(save_weights({"x": torch.zeros(1)}, tmp_path / "notunet.safetensors", torch.float32))


def test_diffusers_layout_vae_file_loads(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    from tests.engine.test_vae import diffusers_config

    ldm = load_state_dict(write_tiny_vae(tmp_path / "ldm.safetensors", seed=5))
    converted = convert_ldm_vae_checkpoint(ldm, diffusers_config(TINY_VAE))
    path = save_weights(converted, tmp_path / "diffusion_pytorch_model.safetensors", torch.float32)
    vae = load_vae(path)
    for key, tensor in vae.model.state_dict().items():
        assert torch.equal(tensor, ldm[key]), key


def test_tiny_clip_weights_match_the_transformers_layout() -> None:
    transformers = pytest.importorskip("transformers")
    model = transformers.CLIPTextModel(transformers.CLIPTextConfig(**TINY_CLIP))
    # Files say ``text_model.*`` (as SD1.5's cond_stage_model.transformer.text_model.*); transformers 5
    # may drop that level in its own state dict.
    prefix = "" if next(iter(model.state_dict())).startswith("text_model.") else "text_model."
    expected = {prefix + k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = tiny_clip_state_dict(0)
    ours.pop("text_model.embeddings.position_ids")  # old checkpoints carry it; recent transformers do not
    expected.pop("text_model.embeddings.position_ids", None)
    assert {k: tuple(v.shape) for k, v in ours.items()} == expected
    missing, unexpected = model.load_state_dict({k[len(prefix) :]: v for k, v in ours.items()}, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing)
    hidden = model(input_ids=torch.tensor([[49406, 320, 1125, 49407]])).last_hidden_state
    assert hidden.shape == (1, 4, 32) and torch.isfinite(hidden).all() and hidden.std() > 0.1
