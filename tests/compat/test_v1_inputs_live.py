"""A plug-in's declared inputs are read again on every ``/object_info`` and validation, as ComfyUI calls
``INPUT_TYPES`` per request: a model added after start shows in the next ``/object_info`` and validates, and a
declaration that fails later keeps the node's last good inputs and is reported for that node alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.compat.conftest import history_of, serve_packs
from tests.conftest import InProcessServer, stop_server
from tests.server.api_client import get_json, http


@pytest.fixture
def server(tmp_path) -> Iterator[InProcessServer]:
    running = serve_packs(tmp_path, "v3_pack")
    yield running
    stop_server(running)


def checkpoint_choices(server: InProcessServer) -> tuple[list, list]:
    info = get_json(server.url + "/object_info")
    return (info["CheckpointNameV1"]["input"]["required"]["ckpt_name"][0],
            info["CheckpointNameV3"]["input"]["required"]["ckpt_name"][1]["options"])


def test_a_model_added_after_start_is_listed_and_runs(server):
    assert checkpoint_choices(server) == ([], [])
    prompt = {"1": {"class_type": "CheckpointNameV1", "inputs": {"ckpt_name": "late.safetensors"}},
              "2": {"class_type": "CheckpointNameV3", "inputs": {"ckpt_name": "late.safetensors"}}}
    status, body = http(server.url + "/prompt", {"prompt": prompt})
    assert status == 400 and json.loads(body)["node_errors"]["1"]["errors"][0]["type"] == "value_not_in_list"

    folder = server.base / "models" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "late.safetensors").write_bytes(b"not read")
    assert checkpoint_choices(server) == (["late.safetensors"], ["late.safetensors"])
    outputs, _ = history_of(server, prompt)
    assert outputs["1"]["text"] == ["late.safetensors"] and outputs["2"]["text"] == ["late.safetensors"]


def test_inputs_that_fail_later_keep_the_last_good_ones_and_are_reported_while_they_fail(server):
    def flaky_failures() -> list[dict]:
        failed = get_json(server.url + "/api/atelier/plugins")["failed"]
        return [f for f in failed if f["node"] == "FlakyInputsV1"]

    good = get_json(server.url + "/object_info/FlakyInputsV1")["FlakyInputsV1"]["input"]
    assert good == {"required": {"value": ["INT", {"default": 1}]}}
    marker = server.base / "input" / "break_inputs"
    marker.write_text("")
    for _ in range(2):
        info = get_json(server.url + "/object_info")
        assert info["FlakyInputsV1"]["input"] == good  # the last good inputs stay
        assert "InvertImageV3" in info  # the other nodes are unaffected
    failures = flaky_failures()
    assert len(failures) == 1 and "cannot list the inputs now" in failures[0]["error"]
    assert failures[0]["module"] == "v3_pack"

    marker.unlink()
    get_json(server.url + "/object_info")
    assert flaky_failures() == []  # read again: the report goes
    marker.write_text("")
    get_json(server.url + "/object_info")
    assert len(flaky_failures()) == 1  # failing again is reported once again, never piled up
