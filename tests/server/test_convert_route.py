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
