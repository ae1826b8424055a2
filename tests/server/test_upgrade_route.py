"""POST /api/atelier/upgrade_workflow: legacy group nodes as subgraphs, for the editor to open them as subgraphs."""

from __future__ import annotations

import json

from tests.server.api_client import http
from tests.workflows import corpus


def post(server, path: str, body) -> tuple[int, dict]:
    status, raw = http(f"{server.url}/api/atelier/{path}", body)
    return status, json.loads(raw)


def test_group_nodes_come_back_as_subgraphs_that_convert_to_the_same_prompt(server):
    case = corpus.group_node()
    status, body = post(server, "upgrade_workflow", {"workflow": case.ui})
    assert status == 200, body
    upgraded = body["workflow"]
    (definition,) = upgraded["definitions"]["subgraphs"]
    assert next(node for node in upgraded["nodes"] if node["id"] == 12)["type"] == definition["id"]
    assert "groupNodes" not in upgraded["extra"]
    assert body["changes"] == [f"group node 12 (sampler) is now subgraph {definition['id']}"]
    status, converted = post(server, "convert", {"workflow": upgraded})
    assert status == 200, converted
    assert converted["prompt"] == case.expected


def test_a_workflow_without_group_nodes_is_unchanged(server):
    workflow = corpus.flat_digits()
    status, body = post(server, "upgrade_workflow", {"workflow": workflow})
    assert status == 200 and body == {"workflow": workflow, "changes": []}


def test_what_is_not_a_workflow_or_has_unreadable_group_nodes_is_a_400(server):
    status, body = post(server, "upgrade_workflow", {"workflow": {"3": {"class_type": "KSampler"}}})
    assert status == 400 and body["error"]["type"] == "invalid_workflow"
    broken = corpus.group_node().ui
    broken["extra"]["groupNodes"]["sampler"]["links"] = [[0, 0, 7, 0, 0, "LATENT"]]  # names an inner node 7
    broken["extra"]["groupNodes"]["sampler"]["nodes"] = "not a list"
    status, body = post(server, "upgrade_workflow", {"workflow": broken})
    assert status == 400 and body["error"]["type"] == "invalid_workflow", body
