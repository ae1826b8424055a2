"""The shipped StyleGAN3 and VQGAN workflows end to end through the real server, on tiny random models in the real
layouts: two StyleGAN3 files (T and R) as the pickle converter writes them, scored against a folder of faces; two
VQGAN Lightning checkpoints (with loss.* weights and training bookkeeping) reconstructing a folder, scored with
reconstruction FID against the originals; both in Compare Models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.gan import GANGenerator, save_gan
from engine.gan.vqgan import VQGAN, VQGANConfig
from engine.metrics.inception import WEIGHTS_FILE
from tests.conftest import serve, stop_server
from tests.engine.test_gan_stylegan3 import TINY, TINY_R, tiny_generator
from tests.engine.test_metrics import random_inception
from tests.server.api_client import get_json, run_prompt
from tests.server.test_cyclegan_workflow import write_images
from tests.server.test_sd_workflows import api_prompt

TINY_VQGAN = VQGANConfig(ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_levels=(2,), z_channels=8, n_embed=64,
                         embed_dim=4)


def write_vqgan_checkpoint(path, seed: int) -> None:
    torch.manual_seed(seed)
    sd = VQGAN(TINY_VQGAN).state_dict()
    sd["loss.discriminator.main.0.weight"] = torch.randn(8, 3, 4, 4)
    torch.save({"epoch": 1, "global_step": 10, "state_dict": sd, "optimizer_states": [], "lr_schedulers": []}, path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("gan_models")
    for folder in ("gan", "vqgan", "fid"):
        (base / "models" / folder).mkdir(parents=True)
    save_gan(GANGenerator("stylegan3", tiny_generator(replace(TINY, c_dim=0))),
             base / "models" / "gan" / "stylegan3-t-ffhqu-256x256.safetensors")
    save_gan(GANGenerator("stylegan3", tiny_generator(TINY_R, seed=1)),
             base / "models" / "gan" / "stylegan3-r-ffhqu-256x256.safetensors")
    write_vqgan_checkpoint(base / "models" / "vqgan" / "vqgan_imagenet_f16_1024.ckpt", 0)
    write_vqgan_checkpoint(base / "models" / "gan" / "vqgan_imagenet_f16_16384.ckpt", 1)  # found in gan/ too
    torch.save(random_inception().state_dict(), base / "models" / "fid" / WEIGHTS_FILE)
    write_images(base / "input" / "ffhq", 5, seed=1)
    write_images(base / "input" / "imagenet_val", 5, seed=2)
    running = serve(base)
    yield running
    stop_server(running)


def run(server, name: str, changes: dict) -> dict:
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, api_prompt(server, name, changes), timeout=300)
    assert "execution_success" in [m["type"] for m in messages], messages
    return get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]


def test_stylegan3_workflow_compares_t_and_r(server):
    outputs = run(server, "stylegan3_compare.json", {("3", "batch_size"): 4, ("4", "batch_size"): 4,
                                                      ("5", "size"): 32})
    assert len(outputs["6"]["images"]) == 4
    lines = outputs["9"]["text"]
    assert lines[0].startswith("StyleGAN3-T FFHQ-U: FID ") and lines[1].startswith("StyleGAN3-R FFHQ-U: FID ")
    assert lines[-1].startswith("wrote compare_stylegan3_")


def test_vqgan_workflow_scores_reconstructions_against_the_originals(server):
    shipped = api_prompt(server, "vqgan_reconstruction_fid.json")
    assert shipped["4"]["inputs"] == {"vqgan": ["2", 0], "image": ["1", 0]}
    outputs = run(server, "vqgan_reconstruction_fid.json", {("1", "size"): 32})
    assert len(outputs["6"]["images"]) == 5
    lines = outputs["9"]["text"]
    assert lines[0].startswith("VQGAN f16-1024 reconstructions: FID ")
    assert lines[1].startswith("VQGAN f16-16384 reconstructions: FID ") and "KID " in lines[1]
    reconstruction = next((server.base / "output" / "vqgan").glob("f16_16384_*.png"))
    assert np.asarray(Image.open(reconstruction)).shape == (32, 32, 3)
