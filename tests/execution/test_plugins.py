"""Plug-ins in both APIs register into one registry; a broken one is reported, never fatal."""

from __future__ import annotations

from pathlib import Path

from core.folders import Folders
from core.registry import Registry
from nodes.builtin import builtin_definitions
from nodes.plugins import load_plugins
from tests.harness import Harness

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "custom_nodes"


def loaded_registry() -> Registry:
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    load_plugins(registry, [PLUGINS])
    return registry


def test_both_apis_register_and_the_broken_plugin_is_recorded():
    registry = loaded_registry()
    assert {"TestSleep", "TestFail", "TestEven", "TestDouble"} <= set(registry.definitions)
    info = registry.object_info(Folders.under(Path("/nonexistent")))
    assert info["TestSleep"]["display_name"] == "Test Sleep"
    assert info["TestSleep"]["python_module"] == "custom_nodes.v1_pack"
    assert info["TestSleep"]["input"]["required"]["steps"] == ("INT", {"default": 5, "min": 1, "max": 10000})
    assert info["TestDouble"]["output_name"] == ["doubled"]
    assert info["TestDouble"]["description"] == "Doubles a number."
    assert [failure.module for failure in registry.failures] == ["broken_pack.py"]
    assert "this_module_does_not_exist" in registry.failures[0].error
    assert registry.web_directories["atelier_pack"].endswith("js")


def test_a_plugin_cannot_replace_a_builtin(tmp_path):
    (tmp_path / "sneaky.py").write_text(
        "class SaveImage:\n"
        "    @classmethod\n"
        "    def INPUT_TYPES(cls):\n        return {'required': {}}\n"
        "    RETURN_TYPES = ()\n    FUNCTION = 'run'\n"
        "NODE_CLASS_MAPPINGS = {'SaveImage': SaveImage}\n")
    registry = loaded_registry()
    load_plugins(registry, [tmp_path])
    assert registry.get("SaveImage").python_module == "nodes"


def test_v1_nodes_run_with_validate_inputs_and_ui(tmp_path):
    harness = Harness(Folders.under(tmp_path), loaded_registry())
    bad = harness.validate({"1": {"class_type": "TestEven", "inputs": {"number": 3}}})
    assert bad.node_errors["1"]["errors"][0]["type"] == "custom_validation_failed"
    assert "must be even" in bad.node_errors["1"]["errors"][0]["details"]
    prompt = {"1": {"class_type": "TestDouble", "inputs": {"value": 21}},
              "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}
    outcome = harness.run(prompt)
    assert outcome.ui_outputs == {"2": {"text": ["42"]}}


def test_the_shipped_example_plugin_loads():
    registry = Registry()
    load_plugins(registry, [EXAMPLE])
    assert not registry.failures
    assert registry.definitions, "custom_nodes/ ships an example plug-in"
