"""The shipped hypernetwork, InstructPix2Pix and GLIGEN workflows end to end through the real server, on tiny
random models in the real layouts named as the workflows name them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.addon_factories import write_tiny_gligen, write_tiny_hypernetwork, write_tiny_ip2p_checkpoint
from tests.conftest import serve, stop_server
from tests.factories import write_tiny_sd15_checkpoint
from tests.server.test_sd_workflows import api_prompt, run_saving


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("addons")
    models = base / "models"
    write_tiny_sd15_checkpoint(models / "checkpoints" / "v1-5-pruned-emaonly.safetensors", dtype=torch.float16)
    write_tiny_ip2p_checkpoint(models / "checkpoints" / "instruct-pix2pix-00-22000.safetensors", dtype=torch.float16)
    write_tiny_hypernetwork(models / "hypernetworks" / "hypernetwork_sd15.pt")
    write_tiny_gligen(models / "gligen" / "gligen_sd14_textbox_pruned.safetensors")
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    (base / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(base / "input" / "example.png")
    Image.fromarray(255 - pixels).save(base / "input" / "other.png")
    server = serve(base)
    yield server
    stop_server(server)


def test_hypernetwork_workflow(server):
    image = run_saving(server, api_prompt(server, "hypernetwork_sd15.json"))
    assert image.shape == (64, 64, 3)
    assert np.array_equal(run_saving(server, api_prompt(server, "hypernetwork_sd15.json")), image)
    weaker = run_saving(server, api_prompt(server, "hypernetwork_sd15.json", {("10", "strength"): 0.3}))
    assert not np.array_equal(weaker, image)
    off = run_saving(server, api_prompt(server, "hypernetwork_sd15.json", {("10", "strength"): 0.0}))
    plain = run_saving(server, api_prompt(server, "hypernetwork_sd15.json", {("3", "model"): ["4", 0]}))
    assert np.array_equal(off, plain)  # strength 0 is the model without the hypernetwork


def test_instruct_pix2pix_workflow(server):
    image = run_saving(server, api_prompt(server, "ip2p_sd15.json"))
    assert image.shape == (64, 64, 3)  # the input image's size: the latent comes from InstructPixToPixConditioning
    assert np.array_equal(run_saving(server, api_prompt(server, "ip2p_sd15.json")), image)
    other_image = run_saving(server, api_prompt(server, "ip2p_sd15.json", {("10", "image"): "other.png"}))
    assert not np.array_equal(other_image, image)
    other_text = run_saving(server, api_prompt(server, "ip2p_sd15.json", {("6", "text"): "make it a sunny beach"}))
    assert not np.array_equal(other_text, image)


def test_gligen_workflow(server):
    image = run_saving(server, api_prompt(server, "gligen_sd15.json"))
    assert image.shape == (64, 64, 3)
    assert np.array_equal(run_saving(server, api_prompt(server, "gligen_sd15.json")), image)
    moved = run_saving(server, api_prompt(server, "gligen_sd15.json", {("12", "x"): 0, ("12", "y"): 0}))
    assert not np.array_equal(moved, image)
    without = run_saving(server, api_prompt(server, "gligen_sd15.json", {("3", "positive"): ["6", 0]}))
    assert not np.array_equal(without, image)
