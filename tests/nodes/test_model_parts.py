"""Separate model files (UNet, text encoders, VAE) load through UNETLoader, DualCLIPLoader, CLIPLoader and VAELoader
and sample exactly as the single-file checkpoint they came from."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from core.folders import Folders
from engine.sd.state_dict import load_state_dict, with_prefix
from nodes.builtin import latent, model_parts, sd, sdxl
from tests.engine.test_unet import diffusers_config
from tests.factories import TINY_SDXL_UNET, write_tiny_sd2_checkpoint, write_tiny_sdxl_checkpoint
from tests.harness import Harness
from tests.nodes.graphs import harness_for
from tests.nodes.test_model_nodes import output

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402


def save(tensors: dict, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    folders = Folders.under(tmp_path_factory.mktemp("parts"))
    folders.create()
    models = folders.models_dir
    xl = load_state_dict(write_tiny_sdxl_checkpoint(models / "checkpoints" / "xl.safetensors"))
    unet = with_prefix(xl, "model.diffusion_model.")
    save(unet, models / "diffusion_models" / "xl_unet.safetensors")
    config = diffusers_config(TINY_SDXL_UNET)
    config.pop("class_embed_type")
    config.update(addition_embed_type="text_time", transformer_layers_per_block=list(TINY_SDXL_UNET.transformer_depth))
    save(convert_ldm_unet_checkpoint({"model.diffusion_model." + k: v for k, v in unet.items()}, config),
         models / "diffusion_models" / "xl_unet_diffusers.safetensors")
    save(with_prefix(xl, "conditioner.embedders.0.transformer."), models / "text_encoders" / "clip_l.safetensors")
    save(with_prefix(xl, "conditioner.embedders.1.model."), models / "text_encoders" / "clip_g.safetensors")
    save(with_prefix(xl, "first_stage_model."), models / "vae" / "xl_vae.safetensors")
    sd2 = load_state_dict(write_tiny_sd2_checkpoint(models / "checkpoints" / "sd2.safetensors"))
    save(with_prefix(sd2, "cond_stage_model.model."), models / "text_encoders" / "open_clip_h.safetensors")
    return harness_for(folders, sd, sdxl, model_parts, latent)


def sdxl_prompt(model: list, clip: list, vae: list) -> dict:
    return {
        "ck": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "xl.safetensors"}},
        "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": "xl_unet.safetensors", "weight_dtype": "default"}},
        "clips": {"class_type": "DualCLIPLoader", "inputs": {
            "clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors", "type": "sdxl"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": "xl_vae.safetensors"}},
        "pos": {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": clip, "width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
            "target_height": 1024, "text_g": "a lighthouse", "text_l": "a lighthouse, watercolor"}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}},
        "lat": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "ks": {"class_type": "KSampler", "inputs": {
            "model": model, "seed": 1, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["lat", 0], "denoise": 1.0}},
        "img": {"class_type": "VAEDecode", "inputs": {"samples": ["ks", 0], "vae": vae}},
    }


def test_separate_files_sample_exactly_as_the_checkpoint(harness):
    whole = output(harness, sdxl_prompt(["ck", 0], ["ck", 1], ["ck", 2]), "img")
    parts = output(harness, sdxl_prompt(["unet", 0], ["clips", 0], ["vae", 0]), "img")
    assert torch.equal(parts, whole)
    prompt = sdxl_prompt(["unet", 0], ["clips", 0], ["vae", 0])
    prompt["unet"]["inputs"]["unet_name"] = "xl_unet_diffusers.safetensors"
    assert torch.equal(output(harness, prompt, "img"), whole), "a diffusers-layout UNet file is the same model"


def test_fp8_storage_stays_close(harness):
    reference = output(harness, sdxl_prompt(["unet", 0], ["clips", 0], ["vae", 0]), "ks")["samples"]
    prompt = sdxl_prompt(["unet", 0], ["clips", 0], ["vae", 0])
    prompt["unet"]["inputs"]["weight_dtype"] = "fp8_e4m3fn"
    fp8 = output(harness, prompt, "ks")["samples"]
    assert not torch.equal(fp8, reference)
    assert (fp8 - reference).abs().max() / reference.abs().max() < 0.2


def test_single_text_encoder_files_encode_as_in_their_checkpoint(harness):
    from engine.sd.checkpoint import read_checkpoint
    from engine.sd.clip import SD2_STYLE
    from engine.sd.model_files import load_text_encoder

    models = harness.folders.models_dir
    _, from_checkpoint, _ = read_checkpoint(models / "checkpoints" / "sd2.safetensors")
    standalone = load_text_encoder(models / "text_encoders" / "open_clip_h.safetensors")
    # A 32-wide file reads in SD1's style (real OpenCLIP-H is 1024 wide); the OpenCLIP layout still means GELU.
    assert standalone.style != SD2_STYLE and standalone.model.config.hidden_act == "gelu"
    cond, pooled = standalone.with_style(SD2_STYLE).encode_text("a cat on a sofa")
    expected_cond, expected_pooled = from_checkpoint.encode_text("a cat on a sofa")
    assert torch.equal(cond, expected_cond) and torch.equal(pooled, expected_pooled)


def test_dual_loader_names_a_wrong_pair():
    from types import SimpleNamespace

    from engine.sd.components import CheckpointError
    from engine.sd.model_files import dual_text_encoders

    with pytest.raises(CheckpointError, match="these text encoders are 768 and 768 wide"):
        dual_text_encoders(SimpleNamespace(width=768), SimpleNamespace(width=768))
