"""Legacy group nodes upgraded to subgraphs (execution/workflows/upgrade.py) convert to the prompt the group nodes
gave, with the same ids, and leave no group node behind."""

from __future__ import annotations

import copy

import pytest

from execution.workflows import convert_workflow
from execution.workflows.upgrade import upgrade_group_nodes
from tests.workflows import corpus


def whole_node_externals() -> dict:
    """The variant some front-end versions saved: ``external`` entries hold the inner node object."""
    ui = corpus.group_node().ui
    group = ui["extra"]["groupNodes"]["sampler"]
    group["external"] = [[dict(group["nodes"][2], index=2), 0, "IMAGE"]]
    return ui


def two_instances() -> dict:
    """Two instances of one group node with other seeds: each gets a definition of its own."""
    ui = corpus.group_node(seed=11).ui
    second = copy.deepcopy(next(node for node in ui["nodes"] if node["id"] == 12))
    second.update(id=13, widgets_values=[32, 32, 4, 99, "fixed", 4, 5.0, "euler", "normal", 1.0])
    for slot in second["inputs"]:
        link_id = max(link[0] for link in ui["links"]) + 1
        source = next(link for link in ui["links"] if link[0] == slot["link"])
        ui["links"].append([link_id, source[1], source[2], 13, source[4], source[5]])
        slot["link"] = link_id
    second["outputs"][0]["links"] = []
    ui["nodes"].append(second)
    return ui


WORKFLOWS = {"corpus group node": lambda: corpus.group_node().ui, "external whole nodes": whole_node_externals,
             "two instances": two_instances, "muted instance": lambda: _with_mode(corpus.group_node().ui, 2)}


def _with_mode(ui: dict, mode: int) -> dict:
    next(node for node in ui["nodes"] if node["id"] == 12)["mode"] = mode
    return ui


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_upgraded_workflow_converts_to_the_same_prompt(name, object_info):
    original = WORKFLOWS[name]()
    before = convert_workflow(original, object_info).prompt
    upgrade = upgrade_group_nodes(original, object_info)
    assert "groupNodes" not in upgrade.workflow["extra"]
    assert not any(node["type"].startswith("workflow") for node in upgrade.workflow["nodes"])
    assert convert_workflow(upgrade.workflow, object_info).prompt == before
    assert original["extra"]["groupNodes"], "the caller's workflow is left alone"


def test_the_instance_keeps_the_group_nodes_id_and_the_inner_nodes_their_indexes(object_info):
    upgrade = upgrade_group_nodes(corpus.group_node().ui, object_info)
    instance = next(node for node in upgrade.workflow["nodes"] if node["id"] == 12)
    (definition,) = upgrade.workflow["definitions"]["subgraphs"]
    assert instance["type"] == definition["id"] and definition["name"] == "sampler"
    assert [node["id"] for node in definition["nodes"]] == [0, 1, 2]
    assert [slot["name"] for slot in instance["inputs"]] == [io["name"] for io in definition["inputs"]] == [
        "model", "positive", "negative", "vae"]
    assert [io["name"] for io in definition["outputs"]] == ["IMAGE"]
    sampler = definition["nodes"][1]
    assert sampler["widgets_values"] == [11, "fixed", 4, 5.0, "euler", "normal", 1.0]  # the group node's values
    assert all(isinstance(link, dict) for link in definition["links"])
    assert upgrade.changes == [f"group node 12 (sampler) is now subgraph {definition['id']}"]
    prompt = convert_workflow(upgrade.workflow, object_info).prompt
    assert {"12:0", "12:1", "12:2"} <= set(prompt)


def test_two_instances_get_two_definitions_with_their_own_values(object_info):
    upgrade = upgrade_group_nodes(two_instances(), object_info)
    first, second = upgrade.workflow["definitions"]["subgraphs"]
    assert first["id"] != second["id"]
    assert first["nodes"][1]["widgets_values"][0] == 11 and second["nodes"][1]["widgets_values"][0] == 99
    assert len(upgrade.changes) == 2


def test_a_converted_widget_left_unlinked_becomes_a_widget_again(object_info):
    """Inside the group the sampler's seed was an input; the group node showed it and did not link it: the seed
    is a widget of the inner sampler again, holding the group node's value."""
    ui = corpus.group_node(seed=5).ui
    group = ui["extra"]["groupNodes"]["sampler"]
    group["nodes"][1]["inputs"].append({"name": "seed", "type": "INT", "link": None, "widget": {"name": "seed"}})
    before = convert_workflow(ui, object_info).prompt
    upgrade = upgrade_group_nodes(ui, object_info)
    (definition,) = upgrade.workflow["definitions"]["subgraphs"]
    assert "seed" not in [io["name"] for io in definition["inputs"]]
    assert convert_workflow(upgrade.workflow, object_info).prompt == before


def test_a_workflow_without_group_nodes_comes_back_as_is(object_info):
    ui = corpus.flat_digits()
    upgrade = upgrade_group_nodes(ui, object_info)
    assert upgrade.workflow is ui and upgrade.changes == []
