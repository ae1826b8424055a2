"""The corpus of UI-format workflows (tests/workflows/corpus.py) converts to the prompts ComfyUI's web app queues."""

from __future__ import annotations

import json

import pytest

from execution.workflows import WorkflowError, convert_workflow
from tests.workflows import corpus


@pytest.mark.parametrize("case", corpus.all_cases(), ids=lambda case: case.name)
def test_each_case_converts_to_its_prompt(case, object_info):
    conversion = convert_workflow(case.ui, object_info)
    assert conversion.prompt == case.expected
    assert list(conversion.prompt) == list(case.expected)  # the order nodes appear in, inner nodes in place
    assert conversion.warnings == case.warnings


def test_schemas_agree(object_info):
    old, new = corpus.flat_cases()
    assert convert_workflow(old.ui, object_info).prompt == convert_workflow(new.ui, object_info).prompt


def test_a_subgraph_that_contains_itself_is_refused(object_info):
    case = corpus.nested_subgraph_with_bypass()
    inner = case.ui["definitions"]["subgraphs"][1]
    inner["nodes"].append({"id": 50, "type": corpus.OUTER_ID, "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(WorkflowError, match="contains itself"):
        convert_workflow(case.ui, object_info)


def test_a_promoted_widget_linked_from_outside_takes_the_link(object_info):
    case = corpus.nested_subgraph_with_bypass()
    root = case.ui
    primitive = {"id": 60, "type": "PrimitiveNode", "mode": 0, "widgets_values": [4242, "fixed"],
                 "outputs": [{"name": "INT", "type": "INT", "links": [99], "widget": {"name": "seed"}}]}
    root["nodes"].append(primitive)
    root["links"].append({"id": 99, "origin_id": 60, "origin_slot": 0, "target_id": 10, "target_slot": 5,
                          "type": "INT"})
    next(node for node in root["nodes"] if node["id"] == 10)["inputs"][5]["link"] = 99
    prompt = convert_workflow(root, object_info).prompt
    assert prompt["10:20:3"]["inputs"]["seed"] == 4242


def test_a_bypassed_node_without_a_matching_input_drops_the_link(object_info):
    case = corpus.reroutes_primitives_and_modes()
    upscale = next(node for node in case.ui["nodes"] if node["id"] == 22)
    upscale["inputs"][0]["type"] = "IMAGE"
    prompt = convert_workflow(case.ui, object_info).prompt
    assert "latent_image" not in prompt["3"]["inputs"]


def test_a_group_node_whose_external_outputs_hold_whole_nodes_converts(object_info):
    """Some front-end versions saved ``external`` entries as ``[node object with "index", slot, type]`` (public
    examples such as sdxl_edit_model.png do): they name the same inner node as ``[index, slot, type]``."""
    case = corpus.group_node()
    group = case.ui["extra"]["groupNodes"]["sampler"]
    group["external"] = [[dict(group["nodes"][2], index=2), 0, "IMAGE"]]
    assert convert_workflow(case.ui, object_info).prompt == case.expected


def test_promoted_widget_values_skip_the_control_of_a_combo_that_asks_for_one():
    """An instance's values of an older file hold a control slot after each promoted widget that has one: a seed,
    and a COMBO (also the V3 ``("COMBO", {"options": ...})`` form) with ``control_after_generate``."""
    from execution.workflows.graph import SUBGRAPH_INPUT, Graph, Link
    from execution.workflows.scopes import Scope, instance_scope

    info = {"Pick": {"input": {"required": {
        "choice": ("COMBO", {"options": ["a", "b"], "control_after_generate": True}), "steps": ("INT", {})}}}}
    inner = {"1": {"id": 1, "type": "Pick", "inputs": [{"name": "choice", "type": "COMBO", "link": 1},
                                                         {"name": "steps", "type": "INT", "link": 2}]}}
    graph = Graph(inner, {1: Link(SUBGRAPH_INPUT, 0, 1, 0, "COMBO"), 2: Link(SUBGRAPH_INPUT, 1, 1, 1, "INT")},
                  [{"name": "choice"}, {"name": "steps"}])
    instance = {"id": 7, "inputs": [], "widgets_values": ["b", "randomize", 12]}
    assert instance_scope(Scope(graph), instance, graph, "sub", info).promoted == {0: "b", 1: 12}


def test_proxy_widgets_saved_as_json_text_read_as_the_list(object_info):
    """Some web app versions saved ``properties.proxyWidgets`` as its JSON text; the editor reads it, and so does
    the conversion."""
    case = corpus.subgraph_modes()[-1]
    instance = next(node for node in case.ui["nodes"] if node["id"] == 10)
    instance["properties"]["proxyWidgets"] = json.dumps(instance["properties"]["proxyWidgets"])
    assert convert_workflow(case.ui, object_info).prompt == case.expected
