"""The shipped comparison workflow end to end: a tiny diffusion model and a tiny StyleGAN2 scored against one
folder of images, with random Inception weights in place of the real FID file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.gan import GANGenerator, save_gan
from engine.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from engine.metrics.inception import WEIGHTS_FILE
from tests.conftest import serve, stop_server
from tests.engine.test_clip_score import tiny_clip
from tests.engine.test_metrics import random_inception
from tests.factories import write_tiny_sd15_checkpoint, write_tiny_sdxl_checkpoint
from tests.server.api_client import get_json, run_prompt
from tests.server.test_sd_workflows import CHECKPOINT, api_prompt


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("metrics")
    models = base / "models"
    write_tiny_sd15_checkpoint(models / "checkpoints" / CHECKPOINT)
    torch.manual_seed(0)
    config = StyleGAN2Config(z_dim=16, w_dim=16, img_resolution=32, mapping_layers=2, channels=(32, 32, 32, 16))
    (models / "gan").mkdir(parents=True)
    save_gan(GANGenerator("stylegan2", StyleGAN2Generator(config)), models / "gan" / "stylegan2.safetensors")
    (models / "fid").mkdir(parents=True)
    torch.save(random_inception().state_dict(), models / "fid" / WEIGHTS_FILE)
    write_tiny_sdxl_checkpoint(models / "checkpoints" / "sd_xl_base_1.0.safetensors")
    tiny_clip().save_pretrained(models / "fid" / "clip-vit-base-patch32")
    reference = base / "input" / "reference"
    reference.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(12):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(reference / f"{index:02d}.png")
    server = serve(base)
    yield server
    stop_server(server)


def test_compare_models_workflow(metrics_server):
    prompt = api_prompt(metrics_server, "compare_models.json")
    prompt["5"]["inputs"]["batch_size"] = 6
    prompt["21"]["inputs"]["batch_size"] = 6
    prompt_id, messages, _ = run_prompt(metrics_server.url, metrics_server.ws_url, prompt, timeout=300)
    assert "execution_success" in [m["type"] for m in messages], [m for m in messages
                                                                  if m["type"] == "execution_error"]
    history = get_json(f"{metrics_server.url}/history/{prompt_id}")[prompt_id]
    text = history["outputs"]["50"]["text"]
    assert text[0].startswith("Stable Diffusion: FID") and text[1].startswith("GAN: FID")
    reports = json.loads(next((metrics_server.base / "output").glob("compare_models_*.json")).read_text())
    assert [r["label"] for r in reports] == ["Stable Diffusion", "GAN"]
    for report in reports:
        assert report["fid"] > 0 and report["num_images"] == 6 and report["is_mean"] >= 1.0
        assert 0 <= report["precision"] <= 1 and report["kid_mean"] is not None
    assert history["outputs"]["51"]["images"][0]["filename"].startswith("compare_models_")


def test_sd15_against_sdxl_in_one_table(metrics_server):
    prompt = api_prompt(metrics_server, "compare_sd15_sdxl.json")
    prompt["5"]["inputs"]["batch_size"] = prompt["15"]["inputs"]["batch_size"] = 4
    prompt_id, messages, _ = run_prompt(metrics_server.url, metrics_server.ws_url, prompt, timeout=300)
    assert "execution_success" in [m["type"] for m in messages], [m for m in messages
                                                                  if m["type"] == "execution_error"]
    reports = json.loads(next((metrics_server.base / "output").glob("compare_sd15_sdxl_*.json")).read_text())
    assert [r["label"] for r in reports] == ["SD 1.5", "SDXL"]
    for report in reports:
        assert report["fid"] > 0 and report["num_images"] == 4 and report["clip_score"] >= 0


def test_missing_inception_weights_name_the_file(tmp_path):
    server = serve(tmp_path)
    try:
        prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2,
                                                                "color": 0}},
                  "2": {"class_type": "MetricsEvaluator", "inputs": {
                      "images": ["1", 0], "label": "x", "metrics": "all",
                      "feature_net": "inception-v3 (FID standard)", "resize_mode": "pytorch-fid"}},
                  "3": {"class_type": "CompareModels", "inputs": {"metrics_1": ["2", 0], "title": "t",
                                                                  "filename_prefix": "c"}}}
        _, messages, _ = run_prompt(server.url, server.ws_url, prompt)
        error = next(m["data"] for m in messages if m["type"] == "execution_error")
        assert error["node_id"] == "2" and WEIGHTS_FILE in error["exception_message"]
        assert "fid" in error["exception_message"]
    finally:
        stop_server(server)
