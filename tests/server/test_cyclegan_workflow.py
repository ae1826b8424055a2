"""The shipped CycleGAN workflow end to end through the real server: a tiny random resnet_9blocks generator in the
reference's file layout (a plain state dict saved with torch.save, as ``latest_net_G.pth``), an input folder of
horses translated and scored with FID/KID against a folder of zebras beside the untranslated baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.metrics.inception import WEIGHTS_FILE
from tests.conftest import serve, stop_server
from tests.engine.test_gan_cyclegan import define_g, randomized
from tests.engine.test_metrics import random_inception
from tests.server.api_client import get_json, run_prompt
from tests.server.test_sd_workflows import api_prompt


def write_images(folder, count: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"{index:04d}.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("cyclegan")
    (base / "models" / "gan").mkdir(parents=True)
    (base / "models" / "fid").mkdir(parents=True)
    torch.save(randomized(define_g("resnet_9blocks", "instance", False, ngf=8), 0).state_dict(),
               base / "models" / "gan" / "horse2zebra.pth")
    torch.save(random_inception().state_dict(), base / "models" / "fid" / WEIGHTS_FILE)
    write_images(base / "input" / "horse2zebra" / "testA", 6, seed=1)
    write_images(base / "input" / "horse2zebra" / "testB", 6, seed=2)
    running = serve(base)
    yield running
    stop_server(running)


def test_the_shipped_workflow_translates_a_folder_and_compares_it_with_the_untranslated_images(server):
    shipped = api_prompt(server, "cyclegan_translate.json")
    assert shipped["4"]["inputs"] == {"gan": ["1", 0], "image": ["2", 0], "size": 256, "mode": "train", "seed": 0}
    prompt = api_prompt(server, "cyclegan_translate.json", {(node, "size"): 64 for node in ("2", "3", "4")})  # small
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt, timeout=300)
    assert "execution_success" in [m["type"] for m in messages], messages
    outputs = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]
    assert len(outputs["5"]["images"]) == 6  # the translations
    lines = outputs["8"]["text"]
    assert lines[0].startswith("CycleGAN horse2zebra: FID ") and lines[1].startswith("Horses, untranslated: FID ")
    assert "KID " in lines[0] and lines[-1].startswith("wrote compare_cyclegan_")
    translated = np.asarray(Image.open(next((server.base / "output" / "cyclegan").glob("horse2zebra_*.png"))))
    assert translated.shape == (64, 64, 3) and translated.std() > 1
