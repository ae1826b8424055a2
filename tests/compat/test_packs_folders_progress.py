"""Two plug-ins written as ComfyUI packs are (``tests/plugins/comfy_packs/folder_lists_pack`` and
``progress_pack``), loaded from ``custom_nodes/`` by the real server: model folders they register and list, a
checkpoint read through ``comfy.utils``, ``common_upscale`` against Atelier's ImageScale, and ``ProgressBar``
progress and interrupts over the websocket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from tests.compat.conftest import run_ok, serve_packs
from tests.conftest import InProcessServer, stop_server
from tests.factories import write_tiny_sd15_checkpoint
from tests.server.api_client import get_json, http, run_prompt

PACKS = ("folder_lists_pack", "progress_pack")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    base = tmp_path_factory.mktemp("packs")
    models = base / "models"
    write_tiny_sd15_checkpoint(models / "checkpoints" / "tiny.safetensors")
    for name in ("pack_models/a.pack", "pack_models/notes.txt", "pack_models_extra/sub/c.pack",
                 "more_checkpoints/extra.safetensors"):
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        (models / name).write_bytes(b"")
    running = serve_packs(base, *PACKS)
    yield running
    stop_server(running)


def required_choices(server: InProcessServer, node: str, name: str) -> list[str]:
    return get_json(f"{server.url}/object_info/{node}")[node]["input"]["required"][name][0]


def executed_output(messages: list[dict[str, Any]], node: str) -> dict[str, Any]:
    return next(m["data"]["output"] for m in messages if m["type"] == "executed" and m["data"]["node"] == node)


def test_packs_load_and_list_the_folders_they_registered(server):
    plugins = json.dumps(get_json(server.url + "/api/atelier/plugins"))
    assert "folder_lists_pack" in plugins and "progress_pack" in plugins
    info = get_json(server.url + "/object_info")
    assert {"PackModelLists", "PackCheckpointStats", "PackUpscale", "PackSlowCount"} <= set(info)
    assert info["PackModelLists"]["display_name"] == "Pack: model lists"
    # Its own kind (two folders, its own extension) and the folder it appended to the checkpoints.
    assert required_choices(server, "PackModelLists", "pack_model") == ["a.pack", "sub/c.pack"]
    assert required_choices(server, "PackModelLists", "ckpt_name") == ["extra.safetensors", "tiny.safetensors"]
    # Atelier's own loaders see the checkpoints folder the pack added, too.
    assert "extra.safetensors" in required_choices(server, "CheckpointLoaderSimple", "ckpt_name")
    # INPUT_TYPES is read again when asked, so a file added later is listed.
    (server.base / "models" / "pack_models" / "b.pack").write_bytes(b"")
    info = get_json(server.url + "/object_info")
    assert info["PackModelLists"]["input"]["required"]["pack_model"][0] == ["a.pack", "b.pack", "sub/c.pack"]


def test_a_workflow_with_the_folder_pack_agrees_with_atelier(server):
    import torch

    from engine.image_ops import resize
    from engine.sd.state_dict import load_state_dict, with_prefix
    from engine.sd.unet import UNetModel, detect_unet_config

    models = server.base / "models"
    prompt = {
        "1": {"class_type": "PackModelLists", "inputs": {"ckpt_name": "tiny.safetensors", "pack_model": "sub/c.pack"}},
        "2": {"class_type": "PackCheckpointStats", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "4": {"class_type": "PackUpscale", "inputs": {"image": ["3", 0], "upscale_method": "bicubic", "width": 48,
                                                      "height": 40, "crop": "center"}},
        "5": {"class_type": "ImageScale", "inputs": {"image": ["3", 0], "upscale_method": "bicubic", "width": 48,
                                                     "height": 40, "crop": "center"}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "pack"}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "atelier"}},
    }
    _, messages, _ = run_ok(server, prompt)
    assert executed_output(messages, "1")["text"] == [
        str((models / "checkpoints" / "tiny.safetensors").resolve()),
        str((models / "pack_models_extra" / "sub" / "c.pack").resolve())]

    count, dtype, _metadata = executed_output(messages, "2")["text"]
    # Atelier's own UNet, built from the same file, has exactly the parameters the pack counted.
    unet_sd = with_prefix(load_state_dict(models / "checkpoints" / "tiny.safetensors"), "model.diffusion_model.")
    assert int(count) == sum(p.numel() for p in UNetModel(detect_unet_config(unet_sd)).parameters())
    assert dtype == str(torch.float32)

    output = server.base / "output"
    ours = np.asarray(Image.open(output / "pack_00001_.png"))
    atelier = np.asarray(Image.open(output / "atelier_00001_.png"))
    assert ours.shape == (40, 48, 3)
    # ComfyUI's ImageScale is common_upscale; Atelier's clamps to 0..1, which saving does anyway.
    assert np.array_equal(ours, atelier)
    source = torch.from_numpy(np.asarray(Image.open(server.base / "input" / "example.png").convert("RGB")) / 255.0)
    expected = resize(source[None].float(), 48, 40, "bicubic", "center")
    assert np.abs(ours.astype(int) - np.clip(255 * expected[0].numpy(), 0, 255).astype(int)).max() <= 1


def test_progress_bar_sends_progress_and_previews(server):
    prompt = {"1": {"class_type": "PackSlowCount", "inputs": {"steps": 6, "seconds": 0.0, "preview_every": 3}}}
    _, messages, frames = run_prompt(server.url, server.ws_url, prompt)
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(i, 6, "1") for i in range(1, 7)]
    assert len(frames) == 2  # two previews, as binary frames
    assert executed_output(messages, "1") == {"count": [6]}


def test_interrupt_stops_the_loop_as_an_interruption(server):
    prompt = {"1": {"class_type": "PackSlowCount", "inputs": {"steps": 100000, "seconds": 0.005,
                                                            "preview_every": 0}}}
    client_id = uuid.uuid4().hex
    messages: list[dict[str, Any]] = []
    with connect(f"{server.ws_url}?clientId={client_id}", open_timeout=30) as socket:
        status, answer = http(server.url + "/prompt", {"prompt": prompt, "client_id": client_id})
        assert status == 200, answer
        prompt_id = json.loads(answer)["prompt_id"]
        interrupted = False
        while True:
            message = socket.recv(timeout=60)
            if isinstance(message, bytes):
                continue
            parsed = json.loads(message)
            messages.append(parsed)
            data = parsed.get("data", {})
            if parsed["type"] == "progress" and data["value"] >= 3 and not interrupted:
                http(server.url + "/interrupt", {})
                interrupted = True
            if parsed["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                break
    types = [m["type"] for m in messages]
    assert "execution_interrupted" in types and "execution_error" not in types
    stopped = next(m["data"] for m in messages if m["type"] == "execution_interrupted")
    assert stopped["node_id"] == "1" and stopped["node_type"] == "PackSlowCount"
    last = [m["data"]["value"] for m in messages if m["type"] == "progress"][-1]
    assert 3 <= last < 100000
    # The next prompt runs normally.
    _, messages, _ = run_prompt(server.url, server.ws_url, {"1": {"class_type": "PackSlowCount", "inputs": {
        "steps": 2, "seconds": 0.0, "preview_every": 0}}})
    assert "execution_success" in [m["type"] for m in messages]
