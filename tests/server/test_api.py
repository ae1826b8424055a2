"""The real server driven like a ComfyUI API client: HTTP + websocket, history, /view, PNG metadata."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
from PIL import Image

from tests.server.api_client import get_json, http, run_prompt, view_url

INVERT_PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0x336699}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "api/test"}},
}


def event_types(messages):
    return [message["type"] for message in messages]


def test_message_sequence_history_view_and_png_metadata(server):
    workflow = {"nodes": [], "links": [], "version": 0.4}
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, INVERT_PROMPT,
                                        extra_data={"extra_pnginfo": {"workflow": workflow}})
    types = event_types(messages)
    assert types[0] == "status" and "sid" in messages[0]["data"]
    start = types.index("execution_start")
    assert types[start + 1] == "execution_cached"
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing == ["1", "2", "3", None]
    assert types.index("executed") < types.index("execution_success")

    history = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success" and history["status"]["completed"]
    image = history["outputs"]["3"]["images"][0]
    assert image == {"filename": "test_00001_.png", "subfolder": "api", "type": "output"}
    status, body = http(view_url(server.url, image))
    assert status == 200
    png = Image.open(io.BytesIO(body))
    assert png.size == (64, 32)
    # Inverted in float32 and truncated to 8 bits as ComfyUI saves: 1 - 0x99/255 is 101.99... levels, saved as 101.
    inverted = [int(np.clip((1 - np.float32(level) / np.float32(255)) * np.float32(255), 0, 255))
                for level in (0x33, 0x66, 0x99)]
    assert png.getpixel((0, 0)) == tuple(inverted) == (204, 153, 101)
    assert json.loads(png.text["prompt"])["2"]["class_type"] == "ImageInvert"
    assert json.loads(png.text["workflow"]) == workflow
    status, body = http(view_url(server.url, {**image, "preview": "jpeg;80"}))
    assert status == 200 and body[:2] == b"\xff\xd8"


def test_requeue_is_cached_and_a_changed_widget_reruns_its_descendants(server):
    run_prompt(server.url, server.ws_url, INVERT_PROMPT)
    _, messages, _ = run_prompt(server.url, server.ws_url, INVERT_PROMPT)
    cached = next(m["data"]["nodes"] for m in messages if m["type"] == "execution_cached")
    assert sorted(cached) == ["1", "2", "3"]
    assert [m["data"]["node"] for m in messages if m["type"] == "executing"] == [None]
    changed = json.loads(json.dumps(INVERT_PROMPT))
    changed["3"]["inputs"]["filename_prefix"] = "other"
    _, messages, _ = run_prompt(server.url, server.ws_url, changed)
    assert [m["data"]["node"] for m in messages if m["type"] == "executing"] == ["3", None]


def test_progress_interrupt_and_the_next_prompt_runs(server):
    slow = {"1": {"class_type": "TestSleep", "inputs": {"value": 1, "steps": 400, "seconds": 0.01}},
            "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}

    def interrupt_soon():
        time.sleep(1.0)
        http(server.url + "/api/interrupt", {})

    threading.Thread(target=interrupt_soon).start()
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, slow)
    types = event_types(messages)
    assert "progress" in types and "execution_interrupted" in types
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert progress[-1]["max"] == 400 and progress[-1]["value"] < 400 and progress[-1]["node"] == "1"
    assert get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["status"]["status_str"] == "error"
    _, messages, _ = run_prompt(server.url, server.ws_url, INVERT_PROMPT)
    assert "execution_success" in event_types(messages)


def test_node_exception_is_reported_and_server_stays_healthy(server):
    failing = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
               "2": {"class_type": "TestFail", "inputs": {"image": ["1", 0]}},
               "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    _, messages, _ = run_prompt(server.url, server.ws_url, failing)
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert error["node_id"] == "2" and error["node_type"] == "TestFail"
    assert error["exception_type"] == "ValueError" and "always fails" in error["exception_message"]
    assert get_json(server.url + "/system_stats")["system"]["python_version"]


def test_object_info_models_plugins_and_extensions(server):
    info = get_json(server.url + "/object_info")
    assert info["SaveImage"]["output_node"] is True
    assert get_json(server.url + "/api/object_info/ImageInvert")["ImageInvert"]["category"] == "image"
    assert get_json(server.url + "/object_info/Unknown") == {}
    assert "checkpoints" in get_json(server.url + "/models") and "gan" in get_json(server.url + "/models")
    assert get_json(server.url + "/models/checkpoints") == get_json(server.url + "/models/checkpoints")
    plugins = get_json(server.url + "/api/atelier/plugins")
    assert [failure["module"] for failure in plugins["failed"]] == ["broken_pack.py"]
    assert "/extensions/atelier_pack/hello.js" in get_json(server.url + "/extensions")
    status, body = http(server.url + "/extensions/atelier_pack/hello.js")
    assert status == 200 and b"atelier test extension" in body


def test_a_ui_workflow_runs_on_the_server_and_its_png_embeds_it(server):
    nodes = [
        {"id": 1, "type": "EmptyImage", "mode": 0, "widgets_values": [16, 16, 1, 0xFF0000],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}]},
        {"id": 2, "type": "SaveImage", "mode": 0, "widgets_values": ["ui"],
         "inputs": [{"name": "images", "type": "IMAGE", "link": 1}]},
    ]
    workflow = {"last_node_id": 2, "last_link_id": 1, "nodes": nodes, "links": [[1, 1, 0, 2, 0, "IMAGE"]],
                "version": 0.4}
    status, body = http(server.url + "/api/atelier/run", {"workflow": workflow})
    assert status == 200, body
    prompt_id = json.loads(body)["prompt_id"]
    deadline = time.monotonic() + 60
    while prompt_id not in get_json(server.url + "/history") and time.monotonic() < deadline:
        time.sleep(0.2)
    image = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"]["2"]["images"][0]
    png = Image.open(io.BytesIO(http(view_url(server.url, image))[1]))
    assert json.loads(png.text["workflow"]) == workflow
    assert png.getpixel((0, 0)) == (255, 0, 0)


def test_binary_preview_frames_with_and_without_metadata(server):
    import struct
    import uuid

    from websockets.sync.client import connect

    prompt = {"1": {"class_type": "TestPreview", "inputs": {"value": 4}},
              "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}
    _, _, frames = run_prompt(server.url, server.ws_url, prompt)
    assert len(frames) == 3
    event, image_format = struct.unpack(">II", frames[0][:8])
    assert (event, image_format) == (1, 1) and frames[0][8:10] == b"\xff\xd8"  # PREVIEW_IMAGE, JPEG

    client_id = uuid.uuid4().hex
    with connect(f"{server.ws_url}?clientId={client_id}") as socket:
        socket.recv(timeout=10)  # status
        socket.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        assert json.loads(socket.recv(timeout=10))["type"] == "feature_flags"
        changed = {**prompt, "1": {"class_type": "TestPreview", "inputs": {"value": 6}}}
        http(server.url + "/prompt", {"prompt": changed, "client_id": client_id})
        frame = next(m for m in iter(lambda: socket.recv(timeout=30), None) if isinstance(m, bytes))
    event, length = struct.unpack(">II", frame[:8])
    meta = json.loads(frame[8:8 + length])
    assert event == 4 and meta["node_id"] == "1" and meta["image_type"] == "image/jpeg"
    assert frame[8 + length:8 + length + 2] == b"\xff\xd8"


def test_view_metadata_reads_the_safetensors_header(server):
    import torch
    from safetensors.torch import save_file

    folder = server.base / "models" / "loras"
    save_file({"w": torch.zeros(2)}, str(folder / "style.safetensors"), metadata={"ss_network_dim": "16"})
    assert get_json(server.url + "/api/view_metadata/loras?filename=style.safetensors") == {"ss_network_dim": "16"}
    status, _ = http(server.url + "/api/view_metadata/loras?filename=../../secret.safetensors")
    assert status == 404
