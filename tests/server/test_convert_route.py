"""POST /api/atelier/convert: the one UI->API conversion, as the editor calls it; GET /api/atelier/node_sources."""

from __future__ import annotations

import json

from tests.conftest import ROOT
from tests.server.api_client import get_json, http
from tests.workflows import corpus


def post(server, body) -> tuple[int, dict]:
    status, raw = http(server.url + "/api/atelier/convert", body)
    return status, json.loads(raw)


def test_a_shipped_workflow_converts_as_the_server_runs_it(server):
    workflow = json.loads((ROOT / "workflows" / "default.json").read_text())
    status, body = post(server, {"workflow": workflow})
    assert status == 200, body
    assert body["warnings"] == []
    assert body["prompt"]["3"]["class_type"] == "KSampler"
    assert body["prompt"]["3"]["inputs"]["model"] == ["4", 0]
    assert body["prompt"]["3"]["inputs"]["seed"] == 7


def test_a_subgraph_workflow_gives_path_ids(server):
    case = corpus.nested_subgraph_with_bypass()
    status, body = post(server, {"workflow": case.ui})
    assert status == 200, body
    assert body["prompt"] == case.expected and body["warnings"] == []


def test_an_older_file_converts_with_a_warning_per_missing_widget(server):
    case = corpus.older_files()
    status, body = post(server, {"workflow": case.ui})
    assert status == 200, body
    assert body["prompt"] == case.expected
    assert body["warnings"] == ["VAEEncodeForInpaint #31: grow_mask_by was missing; using its default 6"]


def test_a_missing_node_type_is_a_400_naming_the_node_and_its_plugin(server):
    workflow = corpus.flat_digits()
    workflow["nodes"].append({"id": 42, "type": "UltimateSDUpscale", "mode": 0, "inputs": [], "outputs": [],
                              "widgets_values": [2]})
    status, body = post(server, {"workflow": workflow})
    assert status == 400
    assert body["error"]["type"] == "missing_node_type"
    entry = body["node_errors"]["42"]
    assert entry["class_type"] == "UltimateSDUpscale"
    assert "ComfyUI_UltimateSDUpscale" in entry["errors"][0]["message"]
    assert entry["errors"][0]["extra_info"]["plugin"] == "ComfyUI_UltimateSDUpscale"


def test_a_broken_structure_or_a_non_workflow_is_a_400(server):
    status, body = post(server, {"workflow": {"nodes": [{"id": 1}], "links": []}})
    assert status == 400 and body["error"]["type"] == "invalid_workflow" and "type name" in body["error"]["details"]
    status, body = post(server, {"workflow": {"3": {"class_type": "KSampler", "inputs": {}}}})
    assert status == 400 and body["error"]["type"] == "invalid_workflow"


def test_node_sources_name_plugins_for_placeholders(server):
    sources = get_json(server.url + "/api/atelier/node_sources")
    assert sources["IPAdapterAdvanced"] == "ComfyUI_IPAdapter_plus"
    assert sources["FaceDetailer"] == "ComfyUI-Impact-Pack"
    assert 30 <= len(sources) <= 80


def test_path_ids_run_and_report_as_comfyui_does(server):
    """Ids of nodes inside subgraphs ("10:2") travel through validation, events, progress_state and history."""
    from tests.server.api_client import run_prompt

    prompt = {
        "10:1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
        "10:20:2": {"class_type": "ImageInvert", "inputs": {"image": ["10:1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["10:20:2", 0], "filename_prefix": "paths"}},
    }
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt)
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing == ["10:1", "10:20:2", "3", None]
    states = [m["data"]["nodes"] for m in messages if m["type"] == "progress_state"]
    assert states[-1]["10:20:2"]["display_node_id"] == "10:20:2"
    assert states[-1]["10:20:2"]["real_node_id"] == "10:20:2" and states[-1]["10:20:2"]["state"] == "finished"
    history = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]
    assert "3" in history["outputs"] and history["status"]["status_str"] == "success"

    broken = {**prompt, "10:20:2": {"class_type": "ImageInvert", "inputs": {"image": ["10:1", 5]}}}
    status, raw = http(server.url + "/prompt", {"prompt": broken})
    assert status == 400 and "10:20:2" in json.loads(raw)["node_errors"]


def test_run_names_the_plugin_of_a_missing_node_inside_a_subgraph(server):
    case = corpus.nested_subgraph_with_bypass()
    inner = case.ui["definitions"]["subgraphs"][1]
    inner["nodes"].append({"id": 30, "type": "FaceDetailer", "mode": 0, "inputs": [], "outputs": []})
    status, raw = http(server.url + "/api/atelier/run", {"workflow": case.ui})
    body = json.loads(raw)
    assert status == 400, body
    assert body["node_errors"]["10:20:30"]["errors"][0]["extra_info"]["plugin"] == "ComfyUI-Impact-Pack"
