"""A pack that loads models itself (``comfy.sd.load_checkpoint_guess_config``, ``clip.tokenize`` /
``encode_from_tokens``, ``comfy.utils.load_torch_file`` + ``comfy.sd.load_lora_for_models``), loaded through
``custom_nodes/`` by the real server: its pictures equal those of Atelier's own loaders for the same graph."""

from __future__ import annotations

import numpy as np
import pytest

from tests.compat.conftest import DIGITS_CHECKPOINT, digits_style_lora, needs_digits, run_ok, saved_pixels, serve_packs
from tests.conftest import stop_server
from tests.server.api_client import get_json

pytestmark = needs_digits
CHECKPOINT = DIGITS_CHECKPOINT.name
POSITIVE, NEGATIVE = "a handwritten (digit 7:1.2)", "blurry"
SAMPLING = {"seed": 11, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}


@pytest.fixture(scope="module")
def loader_server(tmp_path_factory):
    running = serve_packs(tmp_path_factory.mktemp("loader_pack"), "loader_pack", digits=True,
                          loras={"digits_style.safetensors": digits_style_lora()})
    yield running
    stop_server(running)


def prompt(strength: float) -> dict:
    """Atelier's checkpoint loader, LoRA loader and text encoders (nodes 1-4) beside the pack's (11-14), sampled,
    decoded and saved alike (nodes 6-8 and 16-18)."""
    lora = {"lora_name": "digits_style.safetensors", "strength_model": strength, "strength_clip": strength}
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "LoraLoader", "inputs": {**lora, "model": ["1", 0], "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["2", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "11": {"class_type": "PackCheckpointLoader|loader_pack", "inputs": {"ckpt_name": CHECKPOINT}},
        "12": {"class_type": "PackLoraLoader|loader_pack", "inputs": {**lora, "model": ["11", 0], "clip": ["11", 1]}},
        "13": {"class_type": "PackTextEncode|loader_pack", "inputs": {"text": POSITIVE, "clip": ["12", 1]}},
        "14": {"class_type": "PackTextEncode|loader_pack", "inputs": {"text": NEGATIVE, "clip": ["12", 1]}},
    }
    for first, model, loader, prefix in ((6, "2", "1", "atelier"), (16, "12", "11", "pack")):
        conds = ("3", "4") if prefix == "atelier" else ("13", "14")
        graph[str(first)] = {"class_type": "KSampler", "inputs": {
            **SAMPLING, "model": [model, 0], "positive": [conds[0], 0], "negative": [conds[1], 0],
            "latent_image": ["5", 0]}}
        graph[str(first + 1)] = {"class_type": "VAEDecode", "inputs": {"samples": [str(first), 0], "vae": [loader, 2]}}
        graph[str(first + 2)] = {"class_type": "SaveImage",
                                 "inputs": {"images": [str(first + 1), 0], "filename_prefix": prefix}}
    return graph


def test_the_loader_pack_loads(loader_server):
    plugins = get_json(loader_server.url + "/api/atelier/plugins")
    assert not [f for f in plugins["failed"] if f["module"] == "loader_pack"], plugins
    info = get_json(loader_server.url + "/object_info")
    assert info["PackCheckpointLoader|loader_pack"]["input"]["required"]["ckpt_name"][0] == [CHECKPOINT]


def test_pack_loaders_give_atelier_loaders_pictures(loader_server):
    pictures = {}
    for strength in (1.0, 0.0):
        prompt_id, _, _ = run_ok(loader_server, prompt(strength))
        atelier, pack = saved_pixels(loader_server, prompt_id, "8"), saved_pixels(loader_server, prompt_id, "18")
        assert atelier.shape == (1, 32, 32, 3)
        assert np.array_equal(atelier, pack)
        pictures[strength] = pack
    assert not np.array_equal(pictures[1.0], pictures[0.0])  # the LoRA changed the picture
