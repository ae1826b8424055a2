"""Subgraphs and group nodes run end to end on the shipped digits checkpoint and draw what the flat workflow
draws: the sampler chain inside nested subgraphs with a bypassed node, and inside a legacy group node."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, serve, stop_server
from tests.server.api_client import get_json, http, run_prompt, view_url
from tests.workflows import corpus

if not (ROOT / "models" / "checkpoints" / "atelier-digits.safetensors").is_file():
    pytest.skip("the digits models are not in models/", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("subgraphs"), models_dir=ROOT / "models")
    yield running
    stop_server(running)


def images_of(server, workflow: dict) -> list[np.ndarray]:
    status, raw = http(server.url + "/api/atelier/convert", {"workflow": workflow})
    assert status == 200, raw
    prompt = json.loads(raw)["prompt"]
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt, timeout=300)
    assert "execution_success" in [m["type"] for m in messages], messages
    outputs = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]
    return [np.asarray(Image.open(io.BytesIO(http(view_url(server.url, image))[1])))
            for output in outputs.values() for image in output.get("images", [])]


def test_nested_subgraphs_and_a_group_node_draw_the_flat_workflows_images(server):
    flat = images_of(server, corpus.flat_digits())
    assert len(flat) == 4 and flat[0].shape[:2] == (32, 32)
    nested = images_of(server, corpus.nested_subgraph_with_bypass(seed=7).ui)
    grouped = images_of(server, corpus.group_node(seed=7).ui)
    for drawn in (nested, grouped):
        assert len(drawn) == 4
        assert all(np.array_equal(a, b) for a, b in zip(flat, drawn, strict=True))
    other_seed = images_of(server, corpus.nested_subgraph_with_bypass(seed=8).ui)
    assert not all(np.array_equal(a, b) for a, b in zip(flat, other_seed, strict=True))  # the promoted seed counts
