"""Every validation error kind, reported at once in ComfyUI's shape."""

from __future__ import annotations

from pathlib import Path

from core.folders import Folders
from execution.validation import types_match, validate_prompt
from tests.execution.counting_nodes import make_registry

REGISTRY = make_registry()
FOLDERS = Folders.under(Path("/nonexistent-atelier-test-folders"))  # nothing listed: no model choices


def error_types(result, node_id: str) -> list[str]:
    return [error["type"] for error in result.node_errors[node_id]["errors"]]


def test_valid_prompt_passes_and_coerces_numbers():
    prompt = {"1": {"class_type": "Number", "inputs": {"value": "5"}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0], "label": 7}}}
    result = validate_prompt(REGISTRY, FOLDERS, prompt)
    assert result.ok and result.good_outputs == ["2"]
    assert result.prompt["1"]["inputs"]["value"] == 5
    assert result.prompt["2"]["inputs"]["label"] == "7"


def test_unknown_class_type_names_the_node():
    result = validate_prompt(REGISTRY, FOLDERS, {"1": {"class_type": "NoSuchNode", "inputs": {},
                                              "_meta": {"title": "My node"}}})
    assert result.error["type"] == "missing_node_type"
    assert "My node" in result.error["message"]
    assert result.node_errors["1"]["errors"][0]["extra_info"]["class_type"] == "NoSuchNode"
    known = validate_prompt(REGISTRY, FOLDERS, {"1": {"class_type": "UltimateSDUpscale", "inputs": {}}})
    assert "usually provided by the plug-in ComfyUI_UltimateSDUpscale" in known.error["message"]
    assert known.node_errors["1"]["errors"][0]["extra_info"]["plugin"] == "ComfyUI_UltimateSDUpscale"


def test_missing_class_type():
    result = validate_prompt(REGISTRY, FOLDERS, {"1": {"inputs": {}}})
    assert result.error["type"] == "invalid_prompt"


def test_no_output_node():
    result = validate_prompt(REGISTRY, FOLDERS, {"1": {"class_type": "Number", "inputs": {"value": 1}}})
    assert result.error["type"] == "prompt_no_outputs"


def test_every_input_error_is_collected_at_once():
    prompt = {
        "1": {"class_type": "Number", "inputs": {"value": 500}},  # above max
        "2": {"class_type": "Number", "inputs": {"value": "abc"}},  # wrong type
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0]}},  # b missing
        "4": {"class_type": "Add", "inputs": {"a": ["99", 0], "b": ["2", 3]}},  # missing node, bad slot
        "5": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
        "6": {"class_type": "Show", "inputs": {"value": ["4", 0]}},
        "7": {"class_type": "IntMath", "inputs": {"a": 1, "b": 2, "operation": "cube"}},  # not in list
        "8": {"class_type": "Show", "inputs": {"value": ["7", 0]}},
        "9": {"class_type": "Add", "inputs": {"a": ["11", 0], "b": 3}},  # wrong link type
        "10": {"class_type": "Show", "inputs": {"value": ["9", 0]}},
        "11": {"class_type": "PrimitiveString", "inputs": {"value": "x"}},
        "12": {"class_type": "Number", "inputs": {"value": -500}},  # below min
        "13": {"class_type": "Show", "inputs": {"value": ["12", 0]}},
        "14": {"class_type": "ImageInvert", "inputs": {"image": 3}},  # a constant where a link is needed
        "15": {"class_type": "Show", "inputs": {"value": ["14", 0]}},
        "16": {"class_type": "Show", "inputs": {"value": ["2", 0]}},
    }
    result = validate_prompt(REGISTRY, FOLDERS, prompt)
    assert result.error["type"] == "prompt_outputs_failed_validation"
    assert result.good_outputs == []
    assert error_types(result, "3") == ["required_input_missing"]
    assert error_types(result, "4") == ["bad_linked_input", "bad_linked_input"]
    assert error_types(result, "7") == ["value_not_in_list"]
    assert error_types(result, "9") == ["return_type_mismatch"]
    assert error_types(result, "14") == ["invalid_input_type"]
    assert error_types(result, "12") == ["value_smaller_than_min"]
    assert result.node_errors["9"]["errors"][0]["extra_info"]["input_name"] == "a"
    assert result.node_errors["9"]["errors"][0]["extra_info"]["received_type"] == "STRING"
    assert "13" in result.node_errors["12"]["dependent_outputs"]
    assert error_types(result, "1") == ["value_bigger_than_max"]
    assert error_types(result, "2") == ["invalid_input_type"]
    assert "5" not in result.node_errors  # fails only because its upstream failed


def test_valid_outputs_still_run_beside_invalid_ones():
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 1}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Number", "inputs": {"value": 1000}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    result = validate_prompt(REGISTRY, FOLDERS, prompt)
    assert result.ok
    assert result.good_outputs == ["2"]
    assert error_types(result, "3") == ["value_bigger_than_max"]


def test_cycle_is_reported():
    prompt = {"1": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["2", 0]}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    result = validate_prompt(REGISTRY, FOLDERS, prompt)
    assert not result.ok
    assert "dependency_cycle" in error_types(result, "1")
    assert "dependency_cycle" in error_types(result, "2")


def test_partial_execution_targets():
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 1}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    assert validate_prompt(REGISTRY, FOLDERS, prompt, ["3"]).good_outputs == ["3"]
    assert validate_prompt(REGISTRY, FOLDERS, prompt, []).error["type"] == "prompt_no_outputs"


def test_wrapped_list_values_and_undeclared_constants():
    prompt = {"1": {"class_type": "Show", "inputs": {"value": 1, "label": {"__value__": "x"}, "junk": 3}}}
    result = validate_prompt(REGISTRY, FOLDERS, prompt)
    assert result.ok
    assert "junk" not in result.prompt["1"]["inputs"]


def test_type_matching_rules():
    assert types_match("INT", "INT")
    assert types_match("*", "MODEL") and types_match("IMAGE", "*")
    assert types_match("INT,FLOAT", "FLOAT")
    assert not types_match("IMAGE", "LATENT")
