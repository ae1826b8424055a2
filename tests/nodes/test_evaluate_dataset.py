"""Evaluate Dataset (sharded) through the executor on the digits feature net: shard prompts record their statistics
and block, the report prompt merges them into METRICS equal to one single-shard pass (every evaluation node of the
graph, and Compare Models once), a missing shard is named; and published rows in Compare Models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from core.blocker import ExecutionBlocker
from core.folders import Folders
from core.shards import ALL_SHARDS, REPORT_SHARD, DatasetShard, item_seed
from engine.metrics.digits import DigitsFeatures
from engine.metrics.report import MetricsReport
from nodes.api import Int, Node, Output
from nodes.builtin import dataset_metrics, metrics
from tests.engine.test_clip_score import tiny_clip
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node

REPO_FID = Path(__file__).resolve().parents[2] / "models" / "fid"
ITEMS = 151  # more than the 128 features, so FID is well conditioned; shards of 3: 51, 50, 50 items


class FakeDataset(Node):
    """A dataset node in miniature: the items of one shard and a random 32x32 image per item (from its seed); for the
    report shard no items and no images."""

    inputs = [Int("shard", ALL_SHARDS, min=REPORT_SHARD), Int("shards", 1, min=1), Int("batched", 0),
              Int("extra_images", 0)]
    outputs = [Output("IMAGE", is_list=True), Output("DATASET_SHARD", "items")]

    def execute(self, shard: int, shards: int, batched: int, extra_images: int) -> tuple:
        if shard == ALL_SHARDS:
            shard, shards = 0, 1
        indices = [index for index in range(ITEMS) if index * shards // ITEMS == shard]  # none for the report
        seeds = [item_seed(7, index) for index in indices]
        images = [torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(seed)) for seed in seeds]
        images += [torch.rand(1, 32, 32, 3) for _ in range(extra_images)]
        items = DatasetShard("fake", indices, [f"digit number {index}" for index in indices], seeds, shard, shards,
                             ITEMS)
        return ([torch.cat(images)] if batched and images else images, items)


@pytest.fixture
def harness(tmp_path) -> Harness:
    folders = Folders.under(tmp_path)
    folders.create()
    for name in ("atelier-digits-classifier.safetensors", "atelier-digits-heldout.npz"):
        shutil.copy(REPO_FID / name, folders.models_dir / "fid" / name)
    tiny_clip().save_pretrained(folders.models_dir / "fid" / "clip-tiny")
    return harness_for(folders, dataset_metrics, metrics, SimpleNamespace(NODES=[FakeDataset]))


def evaluation(shard: int, shards: int, batched: int = 0, extra_images: int = 0, **more: Any) -> dict:
    return {"1": node("FakeDataset", shard=shard, shards=shards, batched=batched, extra_images=extra_images),
            "2": node("EvaluateDataset", images=("1", 0), items=("1", 1), label="digits", metrics="all",
                      feature_net="atelier-digits (classifier)", resize_mode="pytorch-fid",
                      reference_stats="atelier-digits-heldout.npz", clip_model="clip-tiny"),
            "3": node("Keep", value=("2", 0)), **more}


def run_shard(harness: Harness, prompt: dict) -> Any:
    outcome = harness.run(prompt)
    assert outcome.status == "success", outcome.messages
    return harness.results["2"][0][0], outcome.ui_outputs["2"]["text"][0]


def shard_files(harness: Harness) -> list[Path]:
    return sorted((harness.folders.user_dir / "evaluations").rglob("shard_*_of_00003.npz"))


def test_shards_record_and_block_and_the_report_merges_them_to_one_pass(harness, monkeypatch):
    seen = []
    both = DigitsFeatures.both
    monkeypatch.setattr(DigitsFeatures, "both", lambda self, images: (seen.append(len(images)), both(self, images))[1])

    for shard in range(3):
        blocked, text = run_shard(harness, evaluation(shard, 3))
        assert isinstance(blocked, ExecutionBlocker) and text == f"shard {shard + 1} of 3 recorded"
        assert "3" not in harness.recorded.executing()  # what follows a shard's evaluation does not run
    assert sum(seen) == ITEMS and len(shard_files(harness)) == 3

    seen.clear()
    merged, text = run_shard(harness, evaluation(REPORT_SHARD, 3))  # no images: the recorded shards merge
    assert seen == [] and "3" in harness.recorded.executing()
    assert isinstance(merged, MetricsReport) and text.startswith("digits: FID ")

    single, _ = run_shard(harness, evaluation(ALL_SHARDS, 1))  # one image per call, as in the shards
    assert single.num_images == merged.num_images == ITEMS
    assert merged.fid == pytest.approx(single.fid, abs=1e-6)
    assert merged.is_mean == pytest.approx(single.is_mean, rel=1e-12)
    assert merged.clip_score == pytest.approx(single.clip_score, rel=1e-12)
    assert len(shard_files(harness)) == 3  # a run of one shard records nothing
    batched, _ = run_shard(harness, evaluation(ALL_SHARDS, 1, batched=1))  # one batch: the same items
    assert batched.num_images == ITEMS and batched.fid == pytest.approx(single.fid, rel=1e-6)

    assert merged.implementation.startswith("atelier-digits (grayscale")
    assert merged.feature_weights == "atelier-digits-classifier.safetensors"
    assert merged.reference == "atelier-digits-heldout.npz" and merged.reference_count is None
    assert merged.resolution == "32×32" and merged.source == "measured"
    assert merged.is_splits == "10 shuffled contiguous splits (torch-fidelity)"
    assert merged.clip_model == "clip-tiny" and merged.clip_scaling == "100·max(cos, 0)"
    assert "vs atelier-digits-heldout.npz (image count unknown)" in merged.summary().splitlines()[1]

    stamps = {path: path.stat().st_mtime_ns for path in shard_files(harness)}
    again, _ = run_shard(harness, evaluation(1, 3))  # a shard run again blocks and rewrites only its own file
    assert isinstance(again, ExecutionBlocker)
    assert [stamps[path] == path.stat().st_mtime_ns for path in shard_files(harness)][::2] == [True, True]
    report, _ = run_shard(harness, evaluation(REPORT_SHARD, 3))
    assert report.fid == pytest.approx(merged.fid, abs=1e-9)


def error_of(harness: Harness, prompt: dict) -> str:
    outcome = harness.run(prompt)
    assert outcome.status == "error"
    return next(m[1]["exception_message"] for m in outcome.messages if m[0] == "execution_error")


def test_a_report_with_a_shard_not_recorded_names_it(harness):
    for shard in (0, 2):
        run_shard(harness, evaluation(shard, 3))
    message = error_of(harness, evaluation(REPORT_SHARD, 3))
    folder = shard_files(harness)[0].parent
    assert f"{folder} lacks shard 2 of 3 (file shard_00001_of_00003.npz)" in message, message
    assert "no images" in error_of(harness, evaluation(REPORT_SHARD, 3, extra_images=1))


def test_images_must_match_the_items(harness):
    assert "52 images for the 51 items of shard 1 of 3" in error_of(harness, evaluation(0, 3, extra_images=1))


def comparison(published: str) -> dict:
    return evaluation(ALL_SHARDS, 1, **{"4": node("CompareModels", metrics_1=("2", 0), title="t",
                                                  filename_prefix="c", published=published)})


def test_published_rows_join_the_comparison_marked_and_grey(harness):
    published = "label,fid,clip_score,protocol\nSD 1.5 (paper),9.62,,\"COCO-30k val2014, 256px, pytorch-fid\"\n"
    outcome = harness.run(comparison(published))
    assert outcome.status == "success", outcome.messages
    lines = outcome.ui_outputs["4"]["text"]
    assert lines[1].startswith("SD 1.5 (paper) (published): FID 9.62")
    assert "protocol: published; COCO-30k val2014, 256px, pytorch-fid" in lines[1]
    rows = (harness.folders.output_dir / next(harness.folders.output_dir.glob("c_*_.csv")).name).read_text()
    assert rows.splitlines()[0].split(",")[-2:] == ["source", "protocol_note"]
    assert rows.splitlines()[2].startswith("SD 1.5 (paper),0,,") and ",published," in rows.splitlines()[2]
    saved = json.loads(next(harness.folders.output_dir.glob("c_*_.json")).read_text())
    assert [(row["label"], row["source"], row["fid"]) for row in saved][1] == ("SD 1.5 (paper)", "published", 9.62)
    assert saved[0]["source"] == "measured" and saved[0]["implementation"]
    chart = harness.results["4"][0][0][0]
    grey = torch.tensor([150, 150, 150]) / 255
    assert ((chart - grey).abs().sum(dim=-1) < 1e-3).sum() > 100  # the published bar is drawn in grey


@pytest.mark.parametrize(("published", "line", "complaint"), [
    ("label,fid\nA,1.0\nB,abc", 3, "fid 'abc' is not a number"),
    ("label,fid\n\nA,1.0,2.0", 3, "3 values for the 2 columns"),
    ("label,fdi\nA,1.0", 1, "unknown column 'fdi'"),
])
def test_a_malformed_published_line_is_refused_with_its_number(harness, published, line, complaint):
    outcome = harness.run(comparison(published))
    assert outcome.status == "error"
    message = next(m[1]["exception_message"] for m in outcome.messages if m[0] == "execution_error")
    assert f"published line {line}: " in message and complaint in message, message


class SeedImage(Node):
    """One random 32x32 image from a seed (runs once per item of a dataset's seed list); ``model`` stands for a
    model: another one makes other images from the same seed."""

    inputs = [Int("seed", 0, min=0, max=0xFFFFFFFFFFFFFFFF), Int("model", 0)]
    outputs = [Output("IMAGE")]

    def execute(self, seed: int, model: int) -> tuple:
        return (torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(seed + model)),)


def digits_harness(tmp_path: Path) -> Harness:
    from nodes.builtin import datasets

    folders = Folders.under(tmp_path)
    folders.create()
    for name in ("atelier-digits-classifier.safetensors", "atelier-digits-heldout.npz"):
        shutil.copy(REPO_FID / name, folders.models_dir / "fid" / name)
    return harness_for(folders, datasets, dataset_metrics, metrics, SimpleNamespace(NODES=[SeedImage]))


def scored(model: int, label: str, metrics: str = "fid") -> dict:
    """Node "1"'s items made into images by model ``model`` and scored, as nodes 1<model>, 2<model>."""
    return {f"1{model}": node("SeedImage", seed=("1", 1), model=model),
            f"2{model}": node("EvaluateDataset", images=(f"1{model}", 0), items=("1", 3), label=label,
                              metrics=metrics, feature_net="atelier-digits (classifier)", resize_mode="pytorch-fid",
                              reference_stats="atelier-digits-heldout.npz", clip_model="none")}


def test_two_evaluations_of_one_dataset_report_in_one_prompt_and_compare_models_runs_once(tmp_path):
    harness = digits_harness(tmp_path)

    def prompt(shard: int) -> dict:
        return {"1": node("LoadPromptDataset", dataset="digit_prompts.txt", format="auto", captions="one per image",
                          start=0, count=30, shuffle=False, seed=3, shard_size=12, shard=shard),
                **scored(1, "one", "all"), **scored(2, "two"),
                "3": node("CompareModels", metrics_1=("21", 0), metrics_2=("22", 0), title="t", filename_prefix="c")}

    dataset_node = harness.registry.get("LoadPromptDataset")
    assert dataset_node.shard_count(harness.folders, **prompt(ALL_SHARDS)["1"]["inputs"]) == 3
    compared = []
    for shard in (0, 1, 2, REPORT_SHARD):
        outcome = harness.run(prompt(shard))
        assert outcome.status == "success", outcome.messages
        compared.append(harness.recorded.executing().count("3"))
        if shard != REPORT_SHARD:
            texts = [outcome.ui_outputs[nid]["text"] for nid in ("21", "22")]
            assert texts == [[f"shard {shard + 1} of 3 recorded"]] * 2
    assert compared == [0, 0, 0, 1]  # Compare Models ran once, in the report prompt
    assert harness.results["11"] == harness.results["12"] == [[]]  # the report made no images
    one, two = harness.results["21"][0][0], harness.results["22"][0][0]
    assert (one.label, two.label, one.num_images, two.num_images) == ("one", "two", 30, 30) and one.fid != two.fid
    rows = json.loads(next(harness.folders.output_dir.glob("c_*_.json")).read_text())
    assert [(row["label"], row["fid"]) for row in rows] == [("one", one.fid), ("two", two.fid)]

    single = harness.output(prompt(ALL_SHARDS), "21")
    assert single.num_images == 30 and one.fid == pytest.approx(single.fid, rel=1e-6)
    assert one.is_mean == pytest.approx(single.is_mean, rel=1e-12)


def test_a_dataset_file_edited_in_place_is_not_merged_with_shards_of_its_old_items(tmp_path):
    harness = digits_harness(tmp_path)
    dataset = harness.folders.models_dir / "datasets" / "mine.txt"
    dataset.write_text("".join(f"a digit {index % 10}\n" for index in range(24)))

    def prompt(shard: int) -> dict:
        return {"1": node("LoadPromptDataset", dataset="mine.txt", format="auto", captions="one per image",
                          start=0, count=0, shuffle=False, seed=3, shard_size=8, shard=shard),
                **scored(1, "digits"), "3": node("Keep", value=("21", 0))}

    results = [harness.output(prompt(shard), "21") for shard in (0, 1, 2, REPORT_SHARD)]
    assert [isinstance(result, ExecutionBlocker) for result in results] == [True, True, True, False]
    dataset.write_text("".join(f"a digit {9 - index % 10}\n" for index in range(24)))  # same count, new prompts
    os.utime(dataset, ns=(1, 1))  # a new modification time, however coarse the file system's clock
    assert isinstance(harness.output(prompt(2), "21"), ExecutionBlocker)
    message = error_of(harness, prompt(REPORT_SHARD))  # shards 0 and 1 were made from the old prompts
    assert " lacks shards 1, 2 of 3 (files shard_00000_of_00003.npz, ...)" in message, message
    for shard in (0, 1):
        harness.output(prompt(shard), "21")
    assert harness.output(prompt(REPORT_SHARD), "21").num_images == 24
