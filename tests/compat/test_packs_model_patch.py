"""Test plug-ins that patch a MODEL and bring their own sampler, loaded from ``custom_nodes/`` by the real in-process
server and run on the shipped digits checkpoint, against the same work done with Atelier's own nodes: the pack's
``add_patches`` of a LoRA equals Atelier's LoraLoader, its ``set_model_unet_function_wrapper`` takes effect, its
KSAMPLER runs in Atelier's SamplerCustom and Atelier's SAMPLER runs in its ``comfy.sample.sample_custom``."""

from __future__ import annotations

import numpy as np
import pytest

from tests.compat.conftest import DIGITS_CHECKPOINT, kohya_lora, needs_digits, run_ok, saved_pixels, serve_packs
from tests.conftest import stop_server
from tests.server.api_client import get_json

pytestmark = needs_digits
CHECKPOINT = DIGITS_CHECKPOINT.name
PACKS = ("model_patch_pack", "custom_sampler_pack")
LORA = "digits_unet.safetensors"
# Two cross-attention projections of the digits UNet, (out, in) features.
UNET_LORA = {"lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_k": (64, 32),
             "lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_v": (64, 32)}


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory):
    running = serve_packs(tmp_path_factory.mktemp("model_patch_packs"), *PACKS, digits=True,
                          loras={LORA: kohya_lora(UNET_LORA, seed=5)})
    yield running
    stop_server(running)


def common(prompt: dict) -> dict:
    """The checkpoint, prompts and latent every workflow here shares, and a decode-and-save for each sampler
    output named in ``prompt["_save"]``."""
    saves = prompt.pop("_save")
    nodes = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a handwritten digit 5", "clip": ["1", 1]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        **prompt,
    }
    for node in saves:
        nodes[f"decode{node}"] = {"class_type": "VAEDecode", "inputs": {"samples": [node, 0], "vae": ["1", 2]}}
        nodes[f"save{node}"] = {"class_type": "SaveImage",
                                "inputs": {"images": [f"decode{node}", 0], "filename_prefix": f"n{node}"}}
    return nodes


SAMPLING = {"seed": 21, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}


def patch_prompt(strength: float, output_scale: float) -> dict:
    conditioning = {"positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0]}
    return common({
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": LORA,
                                                     "strength_model": strength, "strength_clip": 0.0}},
        "3": {"class_type": "PatchedModel|model_patch_pack",
              "inputs": {"model": ["1", 0], "lora_name": LORA, "strength": strength, "output_scale": output_scale}},
        "7": {"class_type": "KSampler", "inputs": {**SAMPLING, "model": ["2", 0], **conditioning}},
        "8": {"class_type": "KSampler", "inputs": {**SAMPLING, "model": ["3", 0], **conditioning}},
        "_save": ["7", "8"],
    })


def test_the_packs_load(pack_server):
    plugins = get_json(pack_server.url + "/api/atelier/plugins")
    assert not [f for f in plugins["failed"] if f["module"] in PACKS], plugins
    info = get_json(pack_server.url + "/object_info")
    assert info["PatchedModel|model_patch_pack"]["input"]["required"]["lora_name"][0] == [LORA]
    assert info["PackEulerSampler|custom_sampler_pack"]["output"] == ["SAMPLER"]


def test_add_patches_of_a_lora_equals_atelier_lora_loader_and_the_wrapper_takes_effect(pack_server):
    prompt_id, _, _ = run_ok(pack_server, patch_prompt(1.0, 1.0))
    atelier, pack = saved_pixels(pack_server, prompt_id, "save7"), saved_pixels(pack_server, prompt_id, "save8")
    assert atelier.shape == (1, 32, 32, 3) and np.array_equal(atelier, pack)

    plain_id, _, _ = run_ok(pack_server, patch_prompt(0.0, 1.0))
    plain = saved_pixels(pack_server, plain_id, "save8")
    assert np.array_equal(plain, saved_pixels(pack_server, plain_id, "save7"))
    assert not np.array_equal(plain, pack)  # the LoRA changed the picture in both

    scaled_id, _, _ = run_ok(pack_server, patch_prompt(1.0, 0.8))
    assert not np.array_equal(saved_pixels(pack_server, scaled_id, "save8"), pack)  # the pack's wrapper ran


def test_a_pack_ksampler_runs_in_atelier_sampler_custom_and_atelier_sampler_in_the_pack(pack_server):
    custom = {"model": ["1", 0], "noise_seed": 33, "cfg": 5.0, "positive": ["4", 0], "negative": ["5", 0],
              "sigmas": ["8", 0], "latent_image": ["6", 0]}
    prompt = common({
        "7": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "8": {"class_type": "BasicScheduler",
              "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 3, "denoise": 1.0}},
        "9": {"class_type": "SamplerCustom", "inputs": {**custom, "add_noise": True, "sampler": ["7", 0]}},
        "10": {"class_type": "PackEulerSampler|custom_sampler_pack", "inputs": {}},
        "11": {"class_type": "SamplerCustom", "inputs": {**custom, "add_noise": True, "sampler": ["10", 0]}},
        "12": {"class_type": "PackSamplerCustom|custom_sampler_pack", "inputs": {**custom, "sampler": ["7", 0]}},
        "_save": ["9", "11", "12"],
    })
    prompt_id, messages, _ = run_ok(pack_server, prompt)
    atelier = saved_pixels(pack_server, prompt_id, "save9")
    assert np.array_equal(saved_pixels(pack_server, prompt_id, "save11"), atelier)
    assert np.array_equal(saved_pixels(pack_server, prompt_id, "save12"), atelier)
    steps = [m["data"]["value"] for m in messages if m["type"] == "progress" and m["data"]["node"] == "12"]
    assert steps == [1, 2, 3]  # latent_preview's callback reports on the pack's node
