"""The shipped AttnGAN/StackGAN++ workflow end to end through the real server: tiny random AttnGAN and StackGAN++
files in the converters' layout (written by the converters from reference-layout .pth files), a tiny SD 1.5
checkpoint, random Inception weights and a folder of "birds"; AttnGAN's 64² stage is saved, and the three models
are scored side by side in Compare Models."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from engine.gan.convert_attngan import convert as convert_attngan
from engine.gan.convert_stackgan import convert as convert_stackgan
from engine.metrics.inception import WEIGHTS_FILE
from tests.conftest import serve, stop_server
from tests.engine.stacked_gan_references import (
    ATTN_G_NET,
    RNN_ENCODER,
    STACK_G_NET,
    attngan_cfg,
    randomized,
    stackgan_cfg,
)
from tests.engine.test_metrics import random_inception
from tests.factories import write_tiny_sd15_checkpoint
from tests.server.api_client import get_json, run_prompt
from tests.server.test_sd_workflows import CHECKPOINT, api_prompt

WORDS = ["<end>", "this", "bird", "has", "a", "red", "crown", "white", "belly", "and", "black", "wings"]


def write_releases(folder, gan_folder) -> None:
    """Reference-layout releases, converted as a user would."""
    cfg = attngan_cfg(gf_dim=4, z_dim=8, condition_dim=6, embedding_dim=10, r_num=1)
    torch.save(randomized(ATTN_G_NET(cfg), 0).state_dict(), folder / "netG_epoch_600.pth")
    torch.save(randomized(RNN_ENCODER(len(WORDS), ninput=12, nhidden=10), 1).state_dict(),
               folder / "text_encoder200.pth")
    ixtoword = dict(enumerate(WORDS))
    (folder / "captions.pickle").write_bytes(pickle.dumps([[], [], ixtoword, {w: i for i, w in ixtoword.items()}]))
    convert_attngan(folder / "netG_epoch_600.pth", folder / "text_encoder200.pth", folder / "captions.pickle",
                    gan_folder / "attngan_birds.safetensors")
    stack = randomized(STACK_G_NET(stackgan_cfg(gf_dim=8, z_dim=8, embedding_dim=6, text_dim=16, r_num=1)), 2)
    torch.save({f"module.{k}": v for k, v in stack.state_dict().items()}, folder / "netG_210000.pth")
    np.save(folder / "embeddings.npy", np.random.default_rng(3).standard_normal((2, 3, 16)).astype(np.float32))
    convert_stackgan(folder / "netG_210000.pth", gan_folder / "stackgan_birds.safetensors",
                     folder / "embeddings.npy")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("attngan")
    models = base / "models"
    for folder in ("gan", "fid"):
        (models / folder).mkdir(parents=True)
    (base / "releases").mkdir()
    write_releases(base / "releases", models / "gan")
    write_tiny_sd15_checkpoint(models / "checkpoints" / CHECKPOINT)
    torch.save(random_inception().state_dict(), models / "fid" / WEIGHTS_FILE)
    birds = base / "input" / "birds"
    birds.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (72, 64, 3), dtype=np.uint8)).save(birds / f"{index:03d}.png")
    running = serve(base)
    yield running
    stop_server(running)


def test_the_shipped_workflow_compares_attngan_stackgan_and_sd15(server):
    shipped = api_prompt(server, "attngan_birds.json")
    assert shipped["1"]["inputs"] == {"gan_name": "attngan_birds.safetensors"}
    assert shipped["2"]["inputs"]["text"].startswith("this bird has a red crown")
    assert shipped["4"]["inputs"]["text"] == "0"
    assert shipped["5"]["inputs"]["stage"] == 1 and shipped["20"]["inputs"]["folder"] == "birds"
    small = {("2", "batch_size"): 4, ("4", "batch_size"): 4, ("13", "batch_size"): 4, ("20", "size"): 64}
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, api_prompt(server, "attngan_birds.json", small),
                                        timeout=300)
    assert "execution_success" in [m["type"] for m in messages], [m for m in messages
                                                                  if m["type"] == "execution_error"]
    outputs = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]
    assert len(outputs["6"]["images"]) == 4  # AttnGAN's first stage
    stage = np.asarray(Image.open(next((server.base / "output").glob("attngan_birds_64px_*.png"))))
    assert stage.shape == (64, 64, 3) and stage.std() > 0
    lines = outputs["30"]["text"]
    assert [line.split(":")[0] for line in lines[:3]] == ["AttnGAN", "StackGAN++", "Stable Diffusion 1.5"]
    reports = json.loads(next((server.base / "output").glob("compare_birds_*.json")).read_text())
    assert [r["label"] for r in reports] == ["AttnGAN", "StackGAN++", "Stable Diffusion 1.5"]
    assert all(r["num_images"] == 4 and r["fid"] > 0 for r in reports)
