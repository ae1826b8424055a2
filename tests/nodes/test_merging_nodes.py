"""Block-wise model merging and CLIP add/subtract on two tiny checkpoints: each merged weight is the hand-derived mix
of the two models' weights, and the declarations are ComfyUI's."""

from __future__ import annotations

import pytest
import torch

from core.folders import Folders
from nodes.builtin import merging, sd
from tests.factories import write_tiny_sd15_checkpoint
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    folders = Folders.under(tmp_path_factory.mktemp("merging_nodes"))
    folders.create()
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "a.safetensors", seed=0)
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "b.safetensors", seed=10)
    return harness_for(folders, sd, merging)


def merged(harness: Harness, class_type: str, slot: int, **inputs) -> tuple:
    """(merged, first, second) state dicts of a merge node over checkpoints a and b (``slot``: 0 MODEL, 1 CLIP)."""
    sources = ("model1", "model2") if slot == 0 else ("clip1", "clip2")
    prompt = {"a": node("CheckpointLoaderSimple", ckpt_name="a.safetensors"),
              "b": node("CheckpointLoaderSimple", ckpt_name="b.safetensors"),
              "m": node(class_type, **{sources[0]: ("a", slot), sources[1]: ("b", slot)}, **inputs),
              "keep": node("Keep", value=("m", 0))}
    harness.executor.cache.clear()  # the harness records the nodes that run, not those taken from the cache
    harness.run(prompt)
    values = [harness.results[name][slot][0] for name in ("a", "b")]
    result = harness.results["m"][0][0]
    return tuple(value.patched_state_dict() for value in (result, *values))


def test_model_merge_blocks_takes_each_parts_ratio(harness):
    result, first, second = merged(harness, "ModelMergeBlocks", 0, input=1.0, middle=0.0, out=0.25)
    expected_ratio = {"input_blocks": 1.0, "time_embed": 1.0, "middle_block": 0.0, "output_blocks": 0.25, "out": 0.25}
    for key, weight in result.items():
        ratio = expected_ratio[key.split(".")[0]]
        torch.testing.assert_close(weight, first[key] * ratio + second[key] * (1 - ratio), rtol=1e-6, atol=1e-6)


def test_model_merge_sd1_merges_one_block(harness):
    ratios = {spec.name: 1.0 for spec in merging.ModelMergeSD1.inputs[2:]}
    result, first, second = merged(harness, "ModelMergeSD1", 0, **{**ratios, "middle_block.1.": 0.0})
    for key, weight in result.items():
        assert torch.equal(weight, second[key] if key.startswith("middle_block.1.") else first[key]), key


def test_clip_add_and_subtract(harness):
    result, first, second = merged(harness, "CLIPMergeSubtract", 1, multiplier=0.5)
    added = merged(harness, "CLIPMergeAdd", 1)[0]
    for key, weight in result.items():
        if key.endswith(("position_ids", "logit_scale")):
            assert torch.equal(weight, first[key]) and torch.equal(added[key], first[key])
            continue
        torch.testing.assert_close(weight, first[key] - 0.5 * second[key])
        torch.testing.assert_close(added[key], first[key] + second[key])


def test_declarations_are_comfyuis(harness):
    folders = harness.folders
    info = {name: harness.registry.get(name).object_info(folders)["input"]["required"]
            for name in ("ModelMergeBlocks", "ModelMergeSDXL", "CLIPMergeSubtract", "CLIPMergeAdd")}
    ratio = ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}]
    assert [list(value) for value in info["ModelMergeBlocks"].values()] == [["MODEL"], ["MODEL"], ratio, ratio, ratio]
    assert list(info["ModelMergeSDXL"]) == [
        "model1", "model2", "time_embed.", "label_emb.", *(f"input_blocks.{i}" for i in range(9)),
        *(f"middle_block.{i}" for i in range(3)), *(f"output_blocks.{i}" for i in range(9)), "out."]
    assert list(info["CLIPMergeSubtract"]["multiplier"]) == [
        "FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}]
    assert list(info["CLIPMergeAdd"]) == ["clip1", "clip2"]
