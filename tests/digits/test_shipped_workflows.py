"""The default workflow and the digits comparison, as shipped, through the real server on the shipped models."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.metrics.digits import DigitsFeatures, load_digits_classifier
from execution.workflows import ui_to_api
from tests.conftest import ROOT, serve, stop_server
from tests.server.api_client import get_json, http, run_prompt, view_url

if not (ROOT / "models" / "checkpoints" / "atelier-digits.safetensors").is_file():
    pytest.skip("the digits models are not in models/", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("digits"), models_dir=ROOT / "models")
    yield running
    stop_server(running)


def run_workflow(server, name: str) -> dict:
    prompt = ui_to_api(json.loads((ROOT / "workflows" / name).read_text()), get_json(server.url + "/object_info"))
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt, timeout=300)
    assert "execution_success" in [m["type"] for m in messages], messages
    return get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]


def test_the_default_workflow_draws_the_prompted_digit(server):
    outputs = run_workflow(server, "default.json")
    images = [np.asarray(Image.open(io.BytesIO(http(view_url(server.url, image))[1])).convert("RGB"))
              for output in outputs.values() for image in output.get("images", [])]
    assert len(images) == 16 and images[0].shape == (32, 32, 3)
    network = load_digits_classifier(ROOT / "models" / "fid" / "atelier-digits-classifier.safetensors")
    classifier = DigitsFeatures(network)
    read = classifier.classify(torch.from_numpy(np.stack(images)).float() / 255)
    assert (read == 7).sum() >= 12, read.tolist()  # the prompt is "a handwritten digit 7"


def test_the_comparison_ranks_real_digits_first_and_both_models_far_from_noise(server):
    outputs = run_workflow(server, "compare_digits.json")
    lines = next(output["text"] for output in outputs.values() if any("csv" in line for line in output.get("text", [])))
    fid = {line.split(":")[0]: float(line.split("FID ")[1].split()[0].rstrip(",")) for line in lines if "FID " in line}
    assert set(fid) == {"Tiny diffusion", "DCGAN", "Real digits"}, lines
    assert fid["Real digits"] < min(fid["Tiny diffusion"], fid["DCGAN"]), fid
    assert max(fid.values()) < 600, fid  # untrained weights score above 5,000 (tests/digits/test_digits_models.py)
