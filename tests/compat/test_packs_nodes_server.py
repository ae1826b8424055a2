"""Test plug-ins written like real packs, loaded from ``custom_nodes/`` by the real in-process server: a subclass
of ``nodes.LoraLoader``, ``nodes.CLIPTextEncode().encode``, ``nodes.common_ksampler`` and ``PromptServer`` routes and
messages, each checked against the same work done by Atelier's own nodes on the shipped digits checkpoint."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from tests.compat.conftest import DIGITS_CHECKPOINT, digits_style_lora, needs_digits, run_ok, saved_pixels, serve_packs
from tests.conftest import stop_server
from tests.server.api_client import get_json, http, run_prompt

pytestmark = needs_digits
CHECKPOINT = DIGITS_CHECKPOINT.name
PACKS = ("subclass_pack", "ksampler_pack", "routes_pack")


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory):
    running = serve_packs(tmp_path_factory.mktemp("packs"), *PACKS, digits=True,
                          loras={"digits_style.safetensors": digits_style_lora()})
    yield running
    stop_server(running)


SAMPLING = {"seed": 11, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}


def sampler_prompt() -> dict:
    """Atelier's own LoRA, text encoding and KSampler beside the packs' subclass, encoder and sampler."""
    lora = {"model": ["1", 0], "clip": ["1", 1], "lora_name": "digits_style.safetensors", "strength_model": 1.0,
            "strength_clip": 1.0}
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "LoraLoader", "inputs": lora},
        "3": {"class_type": "LoraLoaderWithNote|subclass_pack", "inputs": {**lora, "note": "from the pack"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a handwritten digit 3", "clip": ["2", 1]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 1]}},
        "6": {"class_type": "PromptPair|subclass_pack",
              "inputs": {"clip": ["3", 1], "positive": "a handwritten digit 3", "negative": "", "size": 32}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "8": {"class_type": "KSampler", "inputs": {**SAMPLING, "model": ["2", 0], "positive": ["4", 0],
                                                   "negative": ["5", 0], "latent_image": ["7", 0]}},
        "9": {"class_type": "PackSampler|ksampler_pack",
              "inputs": {**SAMPLING, "disable_noise": False, "model": ["3", 0], "positive": ["6", 0],
                         "negative": ["6", 1], "latent_image": ["7", 0]}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "atelier"}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "pack"}},
    }


def test_the_packs_load_and_list_their_nodes(pack_server):
    plugins = get_json(pack_server.url + "/api/atelier/plugins")
    assert not [failure for failure in plugins["failed"] if failure["module"] in PACKS], plugins
    info = get_json(pack_server.url + "/object_info")
    subclass = info["LoraLoaderWithNote|subclass_pack"]
    assert subclass["output"] == ["MODEL", "CLIP", "STRING"]
    assert "note" in subclass["input"]["optional"]
    assert subclass["input"]["required"]["lora_name"][0] == ["digits_style.safetensors"]
    assert info["PackSampler|ksampler_pack"]["input"]["required"]["sampler_name"] == \
        info["KSampler"]["input"]["required"]["sampler_name"]


def test_subclassed_lora_loader_encode_and_common_ksampler_equal_ateliers_nodes(pack_server):
    prompt = sampler_prompt()
    prompt_id, _, _ = run_ok(pack_server, prompt)
    atelier, pack = saved_pixels(pack_server, prompt_id, "12"), saved_pixels(pack_server, prompt_id, "13")
    assert atelier.shape == (1, 32, 32, 3)
    assert np.array_equal(atelier, pack)
    # The LoRA did something: without it (strength 0 in both loaders) the pictures differ.
    for node in ("2", "3"):
        prompt[node]["inputs"].update(strength_model=0.0, strength_clip=0.0)
    plain_id, _, _ = run_prompt(pack_server.url, pack_server.ws_url, prompt)
    plain = saved_pixels(pack_server, plain_id, "13")
    assert np.array_equal(plain, saved_pixels(pack_server, plain_id, "12"))
    assert not np.array_equal(plain, pack)


def test_common_ksampler_reports_progress_on_the_packs_node(pack_server):
    prompt = sampler_prompt()
    prompt["9"]["inputs"]["seed"] = 12  # not cached: the pack's sampler runs again
    _, messages, frames = run_prompt(pack_server.url, pack_server.ws_url, prompt)
    steps = [m["data"]["value"] for m in messages if m["type"] == "progress" and m["data"]["node"] == "9"]
    assert steps == [1, 2, 3]
    assert frames  # latent previews while it samples


def test_plugin_routes_static_folder_and_middleware_are_mounted(pack_server):
    for prefix in ("", "/api"):
        status, body = http(f"{pack_server.url}{prefix}/routes_pack/hello")
        assert status == 200 and json.loads(body) == {"hello": "routes_pack", "text_event": 3}
    status, body = http(pack_server.url + "/routes_pack/static/hello.txt")
    assert status == 200 and body.decode().strip() == "static file of routes_pack"
    assert http(pack_server.url + "/api/routes_pack/static/hello.txt")[0] == 404  # static routes keep their path
    status, body = http(pack_server.url + "/routes_pack/static/..%2F__init__.py")
    assert status in (403, 404) and b"PromptServer" not in body  # a static folder keeps its files to itself
    status, body = http(pack_server.url + "/routes_pack/hello", headers={"Origin": "http://elsewhere.example"})
    assert status == 403 and json.loads(body)["error"]["type"] == "forbidden_origin"  # guarded like Atelier's own
    import urllib.request

    with urllib.request.urlopen(pack_server.url + "/api/prompt") as response:
        assert response.headers["X-Routes-Pack"] == "1"  # the pack's middleware wraps Atelier's routes too


def test_on_prompt_handler_sees_each_posted_prompt(pack_server):
    module = sys.modules["custom_nodes.routes_pack"]
    before = len(module.SEEN_PROMPTS)
    prompt = {"1": {"class_type": "Announce|routes_pack", "inputs": {"text": "handler"}}}
    run_prompt(pack_server.url, pack_server.ws_url, prompt)
    seen = module.SEEN_PROMPTS[before:]
    assert len(seen) == 1 and seen[0]["prompt"] == prompt and "client_id" in seen[0]


def test_send_sync_reaches_the_client_that_queued_the_prompt(pack_server):
    from websockets.sync.client import connect

    prompt = {"7": {"class_type": "Announce|routes_pack", "inputs": {"text": "digits"}}}
    with connect(f"{pack_server.ws_url}?clientId=bystander", open_timeout=30) as bystander:
        bystander.recv(timeout=30)  # its status message
        _, messages, frames = run_prompt(pack_server.url, pack_server.ws_url, prompt)
        message = next(m for m in messages if m["type"] == "routes_pack.message")
        client = next(m["data"]["sid"] for m in messages if m["type"] == "status" and "sid" in m["data"])
        assert message["data"] == {"text": "digits", "node": "7", "client": client}
        assert [m["data"] for m in messages if m["type"] == "routes_pack.text"] == ["digits"]
        text_frames = [frame for frame in frames if struct.unpack(">I", frame[:4])[0] == 3]
        assert len(text_frames) == 1
        (length,) = struct.unpack(">I", text_frames[0][4:8])
        assert text_frames[0][8:8 + length] == b"7" and text_frames[0][8 + length:] == b"announcing digits"
        others = []
        try:
            while True:
                others.append(bystander.recv(timeout=0.5))
        except TimeoutError:
            pass
    assert not [m for m in others if isinstance(m, str) and "routes_pack.message" in m]
