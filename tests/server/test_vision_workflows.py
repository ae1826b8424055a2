"""The shipped CLIP vision workflows (unCLIP, style model) end to end through the real server, on tiny random
models in the real layouts named as the workflows name them; and ImageOnlyCheckpointLoader on an SVD-style file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import serve, stop_server
from tests.factories import write_tiny_sd15_checkpoint
from tests.server.api_client import run_prompt
from tests.server.test_sd_workflows import api_prompt, run_saving
from tests.vision_factories import (
    tiny_clip_vision,
    tiny_style_adapter,
    write_tiny_svd_checkpoint,
    write_tiny_unclip_checkpoint,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("vision")
    models = base / "models"
    write_tiny_unclip_checkpoint(models / "checkpoints" / "sd21-unclip-h.ckpt", dtype=torch.float16)
    write_tiny_sd15_checkpoint(models / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    write_tiny_svd_checkpoint(models / "checkpoints" / "svd.safetensors")
    (models / "clip_vision").mkdir(parents=True, exist_ok=True)
    tiny_clip_vision(seed=5).save_pretrained(base / "hf", safe_serialization=True)
    (base / "hf" / "model.safetensors").rename(models / "clip_vision" / "clip-vit-large-patch14.safetensors")
    (models / "style_models").mkdir(parents=True, exist_ok=True)
    torch.save(tiny_style_adapter(seed=6).state_dict(), models / "style_models" / "t2iadapter_style_sd14v1.pth")
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    (base / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(base / "input" / "example.png")
    Image.fromarray(255 - pixels).save(base / "input" / "other.png")
    server = serve(base)
    yield server
    stop_server(server)


@pytest.mark.parametrize("workflow, strength", [("unclip_sd21.json", ("12", "strength")),
                                                ("style_model_sd15.json", ("12", "strength"))])
def test_the_image_steers_the_result(server, workflow, strength):
    image = run_saving(server, api_prompt(server, workflow))
    assert image.shape == (64, 64, 3)
    assert np.array_equal(run_saving(server, api_prompt(server, workflow)), image)  # deterministic
    other_image = api_prompt(server, workflow, {("10", "image"): "other.png"})
    assert not np.array_equal(run_saving(server, other_image), image)
    weaker = api_prompt(server, workflow, {strength: 0.25})
    assert not np.array_equal(run_saving(server, weaker), image)


def test_unclip_noise_augmentation_changes_the_result(server):
    image = run_saving(server, api_prompt(server, "unclip_sd21.json"))
    noisier = api_prompt(server, "unclip_sd21.json", {("12", "noise_augmentation"): 0.5})
    assert not np.array_equal(run_saving(server, noisier), image)


def test_image_only_checkpoints_give_clip_vision_and_vae_and_refuse_the_model(server):
    encode = {"1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "svd.safetensors"}},
              "2": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
              "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
              "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}},
              "5": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["1", 1], "image": ["2", 0],
                                                                 "crop": "none"}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}}
    _, messages, _ = run_prompt(server.url, server.ws_url, encode)
    assert "execution_success" in [m["type"] for m in messages], messages
    sample = {**encode, "7": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 0, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["8", 0], "negative": ["8", 0], "latent_image": ["3", 0], "denoise": 1.0}},
        "8": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["9", 0]}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["10", 1]}},
        "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["12", 0]}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["1", 2]}}}
    _, messages, _ = run_prompt(server.url, server.ws_url, sample)
    errors = [m["data"] for m in messages if m["type"] == "execution_error"]
    assert errors and errors[0]["node_id"] == "7"
    assert "cannot run Stable Video Diffusion's video UNet" in errors[0]["exception_message"]
