"""The shipped Stable Diffusion workflows, end to end through the real server on a tiny random checkpoint."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from execution.workflows import ui_to_api
from tests.conftest import ROOT, serve, stop_server
from tests.factories import write_tiny_sd15_checkpoint
from tests.server.api_client import get_json, http, run_prompt, view_url

WORKFLOWS = ROOT / "workflows"
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"


@pytest.fixture(scope="module")
def sd_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sd")
    write_tiny_sd15_checkpoint(base / "models" / "checkpoints" / CHECKPOINT)
    (base / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        base / "input" / "example.png")
    server = serve(base)
    yield server
    stop_server(server)


def api_prompt(server, name: str, changes: dict | None = None) -> dict:
    """A shipped UI workflow as an API prompt, made small: 64x64 and few steps."""
    workflow = json.loads((WORKFLOWS / name).read_text())
    prompt = ui_to_api(workflow, get_json(server.url + "/object_info"))
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if node["class_type"] == "LatentUpscale":
            inputs.update(width=96, height=96)
        if node["class_type"] in ("KSampler", "KSamplerAdvanced", "KarrasScheduler"):
            inputs["steps"] = 3
    for (node_id, key), value in (changes or {}).items():
        prompt[node_id]["inputs"][key] = value
    return prompt


def saved_pixels(server, prompt_id: str) -> np.ndarray:
    history = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success", history["status"]
    image = next(output["images"][0] for output in history["outputs"].values() if "images" in output)
    return np.asarray(Image.open(io.BytesIO(http(view_url(server.url, image))[1])).convert("RGB"))


def run_saving(server, prompt: dict) -> np.ndarray:
    """Run ``prompt`` to success and read back the first image it saved."""
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt)
    assert "execution_success" in [m["type"] for m in messages], messages
    return saved_pixels(server, prompt_id)


def executed_nodes(messages) -> list[str]:
    return [m["data"]["node"] for m in messages if m["type"] == "executing" and m["data"]["node"] is not None]


def wait_idle(server) -> None:
    deadline = time.monotonic() + 30
    while get_json(server.url + "/prompt")["exec_info"]["queue_remaining"] and time.monotonic() < deadline:
        time.sleep(0.1)


def test_text_to_image_is_deterministic_reports_progress_and_reruns_only_what_changed(sd_server):
    prompt = api_prompt(sd_server, "txt2img_sd15.json")
    first_id, messages, frames = run_prompt(sd_server.url, sd_server.ws_url, prompt)
    first = saved_pixels(sd_server, first_id)
    assert first.shape == (64, 64, 3)
    assert executed_nodes(messages) and set(executed_nodes(messages)) == set(prompt)
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [p["value"] for p in progress] == [1, 2, 3] and {p["node"] for p in progress} == {"3"}
    assert len(frames) == 3  # a latent preview per step

    http(sd_server.url + "/free", {"free_memory": True, "unload_models": True})
    time.sleep(1.0)  # the worker frees memory when idle
    wait_idle(sd_server)
    again_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url,
                                       api_prompt(sd_server, "txt2img_sd15.json"))
    assert set(executed_nodes(messages)) == set(prompt), "everything recomputed after /free"
    assert np.array_equal(saved_pixels(sd_server, again_id), first), "same seed, same image"

    reseeded = api_prompt(sd_server, "txt2img_sd15.json", {("3", "seed"): 12345})
    changed_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, reseeded)
    assert executed_nodes(messages) == ["3", "8", "9"]  # KSampler, VAE Decode, Save Image
    assert not np.array_equal(saved_pixels(sd_server, changed_id), first)


@pytest.mark.parametrize("name", ["img2img_sd15.json", "hiresfix_sd15.json", "custom_sampling_sd15.json"])
def test_shipped_workflows_run(sd_server, name):
    prompt_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, api_prompt(sd_server, name))
    assert "execution_success" in [m["type"] for m in messages], messages
    pixels = saved_pixels(sd_server, prompt_id)
    assert pixels.shape == ((96, 96, 3) if "hires" in name else (64, 64, 3))


def test_area_composition_puts_each_subject_in_its_area(sd_server):
    sizes = {("5", "width"): 128, ("5", "height"): 64, ("12", "width"): 64, ("12", "height"): 64,
             ("13", "width"): 64, ("13", "height"): 64, ("13", "x"): 64}
    prompt_id, _, _ = run_prompt(sd_server.url, sd_server.ws_url, api_prompt(sd_server, "area_composition_sd15.json",
                                                                             sizes))
    first = saved_pixels(sd_server, prompt_id)
    assert first.shape == (64, 128, 3)
    changed = api_prompt(sd_server, "area_composition_sd15.json", {**sizes, ("11", "text"): "a green tree"})
    prompt_id, _, _ = run_prompt(sd_server.url, sd_server.ws_url, changed)
    second = saved_pixels(sd_server, prompt_id)
    right, left = np.abs(second.astype(int) - first)[:, 72:], np.abs(second.astype(int) - first)[:, :56]
    assert right.mean() > left.mean(), "the changed prompt's area (the right half) changes most"


def test_a_missing_model_file_is_named_in_the_error(sd_server):
    prompt = api_prompt(sd_server, "txt2img_sd15.json", {("4", "ckpt_name"): "not-installed.safetensors"})
    status, body = http(sd_server.url + "/prompt", {"prompt": prompt})
    answer = json.loads(body)
    assert status == 400
    error = answer["node_errors"]["4"]["errors"][0]
    assert error["type"] == "value_not_in_list" and error["extra_info"]["input_name"] == "ckpt_name"
    assert "not-installed.safetensors" in error["details"] and "not installed" in error["details"]


def test_a_corrupt_checkpoint_fails_its_node_clearly(sd_server):
    bad = Path(sd_server.base) / "models" / "checkpoints" / "corrupt.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    prompt = api_prompt(sd_server, "txt2img_sd15.json", {("4", "ckpt_name"): "corrupt.safetensors"})
    _, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, prompt)
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert error["node_id"] == "4" and "corrupt.safetensors" in error["exception_message"]


@pytest.fixture(scope="module")
def adapter_files(sd_server):
    """A kohya-style LoRA and an LDM-layout ControlNet that fit the tiny checkpoint."""
    import safetensors.torch
    import torch

    from engine.controlnet import ControlNet
    from tests.factories import TINY_UNET, random_module

    models = Path(sd_server.base) / "models"
    lora = {}
    gen = torch.Generator().manual_seed(0)
    for name, (out_features, in_features) in {
            "lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_k": (32, 32),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj": (32, 32)}.items():
        lora[name + ".lora_up.weight"] = torch.randn(out_features, 4, generator=gen)
        lora[name + ".lora_down.weight"] = torch.randn(4, in_features, generator=gen)
        lora[name + ".alpha"] = torch.tensor(4.0)
    lora["lora_unet_not_a_layer.lora_up.weight"] = torch.zeros(1, 1)
    safetensors.torch.save_file(lora, str(models / "loras" / "style.safetensors"))
    net = random_module(lambda config: ControlNet(config, 3), TINY_UNET, seed=5)
    safetensors.torch.save_file({"control_model." + k: v.contiguous() for k, v in net.state_dict().items()},
                                str(models / "controlnet" / "control_canny.safetensors"))


def test_lora_workflow_patches_without_touching_the_cached_checkpoint(sd_server, adapter_files):
    prompt = api_prompt(sd_server, "lora_sd15.json")
    lora_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, prompt)
    warnings = next(m["data"]["output"]["text"] for m in messages
                    if m["type"] == "executed" and m["data"]["node"] == "10")
    assert warnings == ["lora key not loaded: lora_unet_not_a_layer.lora_up.weight"]
    with_lora = saved_pixels(sd_server, lora_id)
    off = json.loads(json.dumps(prompt))
    off["10"]["inputs"].update(strength_model=0.0, strength_clip=0.0)
    off_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, off)
    assert "4" not in executed_nodes(messages)  # the checkpoint is never reloaded
    without = saved_pixels(sd_server, off_id)
    plain = json.loads(json.dumps(prompt))  # the same graph with the LoRA node cut out
    plain["3"]["inputs"]["model"] = ["4", 0]
    plain["6"]["inputs"]["clip"] = plain["7"]["inputs"]["clip"] = ["4", 1]
    del plain["10"]
    plain_id, _, _ = run_prompt(sd_server.url, sd_server.ws_url, plain)
    # Strength 0 equals no LoRA, after the LoRA ran on the same cached checkpoint: the base stayed unpatched.
    assert np.array_equal(without, saved_pixels(sd_server, plain_id))
    assert not np.array_equal(with_lora, without)


def test_controlnet_canny_workflow_runs_and_strength_zero_is_no_controlnet(sd_server, adapter_files):
    prompt = api_prompt(sd_server, "controlnet_canny_sd15.json")
    guided_id, messages, _ = run_prompt(sd_server.url, sd_server.ws_url, prompt)
    assert "execution_success" in [m["type"] for m in messages], messages
    off = json.loads(json.dumps(prompt))
    off["13"]["inputs"]["strength"] = 0.0
    off_id, _, _ = run_prompt(sd_server.url, sd_server.ws_url, off)
    plain = json.loads(json.dumps(prompt))
    plain["3"]["inputs"].update(positive=["6", 0], negative=["7", 0])
    for node_id in ("10", "11", "12", "13"):
        del plain[node_id]
    plain_id, _, _ = run_prompt(sd_server.url, sd_server.ws_url, plain)
    assert np.array_equal(saved_pixels(sd_server, off_id), saved_pixels(sd_server, plain_id))
    assert not np.array_equal(saved_pixels(sd_server, guided_id), saved_pixels(sd_server, plain_id))
