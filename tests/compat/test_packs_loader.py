"""A pack that loads models itself (``comfy.sd.load_checkpoint_guess_config``, ``clip.tokenize`` /
``encode_from_tokens``, ``comfy.utils.load_torch_file`` + ``comfy.sd.load_lora_for_models``), loaded through
``custom_nodes/`` by the real server: its pictures equal those of Atelier's own loaders for the same graph."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.compat.conftest import COMFY_PACKS
from tests.compat.test_packs_nodes_server import CHECKPOINT, SAMPLING, saved_pixels, write_lora
from tests.conftest import serve, stop_server
from tests.server.api_client import get_json, run_prompt

POSITIVE, NEGATIVE = "a handwritten (digit 7:1.2)", "blurry"


@pytest.fixture(scope="module")
def loader_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("loader_pack")
    custom_nodes = base / "custom_nodes"
    shutil.copytree(COMFY_PACKS / "loader_pack", custom_nodes / "loader_pack")
    models = base / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "loras").mkdir()
    shutil.copy(CHECKPOINT, models / "checkpoints" / CHECKPOINT.name)
    write_lora(models / "loras" / "digits_style.safetensors")
    running = serve(base, "--custom-nodes-dir", str(custom_nodes), models_dir=models)
    yield running
    stop_server(running)


def prompt(strength: float) -> dict:
    """Atelier's checkpoint loader, LoRA loader and text encoders (nodes 1-4) beside the pack's (11-14), sampled,
    decoded and saved alike (nodes 6-8 and 16-18)."""
    lora = {"lora_name": "digits_style.safetensors", "strength_model": strength, "strength_clip": strength}
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT.name}},
        "2": {"class_type": "LoraLoader", "inputs": {**lora, "model": ["1", 0], "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["2", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "11": {"class_type": "PackCheckpointLoader|loader_pack", "inputs": {"ckpt_name": CHECKPOINT.name}},
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
    assert not [f for f in plugins.get("failures", []) if "loader_pack" in str(f)], plugins
    info = get_json(loader_server.url + "/object_info")
    assert info["PackCheckpointLoader|loader_pack"]["input"]["required"]["ckpt_name"][0] == [CHECKPOINT.name]


def test_pack_loaders_give_atelier_loaders_pictures(loader_server):
    pictures = {}
    for strength in (1.0, 0.0):
        prompt_id, messages, _ = run_prompt(loader_server.url, loader_server.ws_url, prompt(strength))
        assert "execution_success" in [m["type"] for m in messages], messages
        atelier, pack = saved_pixels(loader_server, prompt_id, "8"), saved_pixels(loader_server, prompt_id, "18")
        assert atelier.shape == (1, 32, 32, 3)
        assert np.array_equal(atelier, pack)
        pictures[strength] = pack
    assert not np.array_equal(pictures[1.0], pictures[0.0])  # the LoRA changed the picture
