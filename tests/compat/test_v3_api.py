"""ComfyUI's V3 node API (``comfy_api.latest``): test packs loaded from ``custom_nodes/`` by the real server, their
``/object_info`` entries in ComfyUI's shape, and workflows whose results match Atelier's own nodes doing the same."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from tests.compat.conftest import history_of, serve_packs, view_pixels
from tests.conftest import InProcessServer, stop_server
from tests.server.api_client import get_json, http

PACKS = ("v3_pack", "v3_entrypoint_pack")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = serve_packs(tmp_path_factory.mktemp("v3"), *PACKS)
    yield running
    stop_server(running)


def test_both_packs_load_and_the_extension_was_loaded(server):
    plugins = get_json(server.url + "/api/atelier/plugins")
    assert {"custom_nodes.v3_pack", "custom_nodes.v3_entrypoint_pack"} <= set(plugins["loaded"])
    assert not [f for f in plugins["failed"] if f["module"] in PACKS]
    assert sys.modules["custom_nodes.v3_entrypoint_pack"].TestV3Extension.loaded  # on_load ran


def test_object_info_of_v3_nodes_has_comfyuis_shape(server):
    info = get_json(server.url + "/object_info")
    invert = info["InvertImageV3"]
    assert invert["input"] == {"required": {"image": ["IMAGE", {"tooltip": "The image to invert."}]}}
    assert invert["input_order"] == {"required": ["image"]}
    assert (invert["output"], invert["output_name"], invert["output_is_list"]) == (["IMAGE"], ["inverted"], [False])
    assert invert["output_tooltips"] == [None]
    assert (invert["name"], invert["display_name"], invert["category"]) == ("InvertImageV3", "Invert Image (V3)",
                                                                             "testing/v3")
    assert invert["description"] == "Inverts the colours of an image."
    assert invert["python_module"] == "custom_nodes.v3_pack"
    assert (invert["output_node"], invert["deprecated"], invert["experimental"], invert["api_node"]) == (
        False, False, False, False)

    number = info["EvenNumberV3"]["input"]["required"]["number"]
    assert number == ["INT", {"default": 0, "min": 0, "max": 100, "display": "slider"}]
    pick = info["PickImageV3"]["input"]
    assert pick["required"]["use_first"] == ["BOOLEAN", {"default": True}]
    assert pick["optional"]["first"] == ["IMAGE", {"lazy": True}]
    # An output node gets prompt and extra_pnginfo besides what it asks for, as ComfyUI's Schema.finalize adds them.
    preview = info["PreviewWithIdV3"]
    assert preview["output_node"] is True
    assert preview["input"]["hidden"] == {"unique_id": "UNIQUE_ID", "prompt": "PROMPT",
                                          "extra_pnginfo": "EXTRA_PNGINFO"}
    assert info["CheckpointNameV3"]["input"]["required"]["ckpt_name"] == ["COMBO", {"multiselect": False,
                                                                                    "options": []}]
    # Registered from comfy_entrypoint under the schema's node_id; a pack's own type is just a name.
    assert info["SolidImageV3"]["python_module"] == "custom_nodes.v3_entrypoint_pack"
    assert info["MarkerTypeV3"]["output"] == ["TEST_MARKER"]
    assert info["MarkerTypeV3"]["output_name"] == ["TEST_MARKER"]
    # The V1 class next to them keeps the V1 rendering.
    assert info["CheckpointNameV1"]["display_name"] == "Checkpoint Name (V1)"
    assert info["CheckpointNameV1"]["input"]["required"]["ckpt_name"] == [[]]


def test_v3_nodes_run_as_atelier_nodes_do_the_same_work(server):
    solid = {"width": 48, "height": 32, "batch_size": 2, "color": 0x336699}
    prompt = {
        "1": {"class_type": "SolidImageV3", "inputs": solid},
        "2": {"class_type": "InvertImageV3", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0xFF0000}},
        "4": {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}},
        "5": {"class_type": "PickImageV3", "inputs": {"use_first": True, "first": ["2", 0], "second": ["4", 0]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "v3/picked"}},
        "7": {"class_type": "PreviewWithIdV3", "inputs": {"images": ["2", 0]}},
        "11": {"class_type": "EmptyImage", "inputs": solid},
        "12": {"class_type": "ImageInvert", "inputs": {"image": ["11", 0]}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "atelier/inverted"}},
    }
    outputs, executed = history_of(server, prompt)
    assert "3" not in executed and "4" not in executed  # the branch PickImageV3 did not ask for never ran
    picked = [view_pixels(server, image) for image in outputs["6"]["images"]]
    reference = [view_pixels(server, image) for image in outputs["13"]["images"]]
    previewed = [view_pixels(server, image) for image in outputs["7"]["images"]]
    assert len(picked) == len(reference) == len(previewed) == 2
    for ours, theirs, shown in zip(picked, reference, previewed, strict=True):
        assert ours.shape == (32, 48, 3)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(shown, theirs)
    assert outputs["7"]["images"][0]["type"] == "temp"
    assert outputs["7"]["text"] == ["node 7"]  # cls.hidden.unique_id
    assert outputs["7"]["animated"] == [False]

    prompt["5"]["inputs"]["use_first"] = False  # now the other branch runs and the V3 one is not asked for
    outputs, executed = history_of(server, prompt)
    assert "3" in executed and "4" in executed
    np.testing.assert_array_equal(view_pixels(server, outputs["6"]["images"][0]), np.full((8, 8, 3), (0, 255, 255)))


def test_validate_inputs_refuses_and_fingerprint_inputs_caches(server):
    status, body = http(server.url + "/prompt", {"prompt": {"1": {"class_type": "EvenNumberV3",
                                                                  "inputs": {"number": 3}}}})
    assert status == 400
    errors = json.loads(body)["node_errors"]["1"]["errors"]
    assert errors[0]["type"] == "custom_validation_failed"
    assert "number must be even, got 3" in errors[0]["details"]

    prompt = {"1": {"class_type": "EvenNumberV3", "inputs": {"number": 4}}}
    outputs, executed = history_of(server, prompt)
    assert outputs["1"]["text"] == ["4"] and executed == ["1"]
    outputs, executed = history_of(server, prompt)
    assert executed == [] and outputs["1"]["text"] == ["4"]  # same fingerprint: cached


def v3_io():
    from compat.host import install_path

    install_path()
    from comfy_api.latest import io

    return io


def test_shape_changing_inputs_are_refused_with_a_clear_error():
    io = v3_io()
    with pytest.raises(NotImplementedError, match="change the node's shape"):
        io.Autogrow.Input("values", template=None)


def test_match_type_is_checked_as_the_union_of_its_types():
    from compat.v3_nodes import definition_from_v3

    io = v3_io()

    class Either(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            template = io.MatchType.Template("either", [io.Image, io.Mask])
            return io.Schema(node_id="Either", inputs=[io.MatchType.Input("value", template=template)],
                             outputs=[io.MatchType.Output(template=template)])

        @classmethod
        def execute(cls, value):
            return io.NodeOutput(value)

    definition = definition_from_v3(Either, "custom_nodes.test")
    assert definition.input("value").type == "IMAGE,MASK"
    assert definition.outputs[0].type == "*"


def test_async_work_runs_inside_a_running_event_loop_too():
    from compat.v3_nodes import run_sync

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def caller() -> int:
        return run_sync(answer())  # e.g. a runtime built inside an async test: a helper thread runs it

    assert run_sync(answer()) == 42
    assert asyncio.run(caller()) == 42
