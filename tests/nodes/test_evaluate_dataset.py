"""Evaluate Dataset (sharded) through the executor on the digits feature net: shards block until the last one
merges, the merged METRICS equal one single-shard pass, a resumed run reuses recorded shards; and published rows
in Compare Models."""

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
from core.shards import ALL_SHARDS, DatasetShard, item_seed
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
    """A dataset node in miniature: the items of one shard and a random 32x32 image per item (from its seed)."""

    inputs = [Int("shard", ALL_SHARDS, min=ALL_SHARDS), Int("shards", 1, min=1), Int("batched", 0),
              Int("extra_images", 0)]
    outputs = [Output("IMAGE", is_list=True), Output("DATASET_SHARD", "items")]

    def execute(self, shard: int, shards: int, batched: int, extra_images: int) -> tuple:
        if shard == ALL_SHARDS:
            shard, shards = 0, 1
        indices = [index for index in range(ITEMS) if index * shards // ITEMS == shard]
        seeds = [item_seed(7, index) for index in indices]
        images = [torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(seed)) for seed in seeds]
        images += [torch.rand(1, 32, 32, 3) for _ in range(extra_images)]
        items = DatasetShard("fake", indices, [f"digit number {index}" for index in indices], seeds, shard, shards,
                             ITEMS)
        return ([torch.cat(images)] if batched else images, items)


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


def test_shards_block_until_the_last_merges_and_equal_one_pass(harness, monkeypatch):
    seen = []
    both = DigitsFeatures.both
    monkeypatch.setattr(DigitsFeatures, "both", lambda self, images: (seen.append(len(images)), both(self, images))[1])

    first, text = run_shard(harness, evaluation(0, 3))
    assert isinstance(first, ExecutionBlocker) and text == "shard 1 of 3 recorded (1 of 3 done)"
    second, text = run_shard(harness, evaluation(1, 3))
    assert isinstance(second, ExecutionBlocker) and text == "shard 2 of 3 recorded (2 of 3 done)"
    assert "3" not in harness.recorded.executing()  # what follows a blocked evaluation does not run
    recorded = {path: path.stat().st_mtime_ns for path in shard_files(harness)}
    assert len(recorded) == 2

    with monkeypatch.context() as patch:  # the last two shards finish together and the other one wins the marker
        patch.setattr(dataset_metrics, "claim", lambda marker, shard: False)
        lost, text = run_shard(harness, evaluation(2, 3))
    assert isinstance(lost, ExecutionBlocker) and text.endswith("(3 of 3 done); another shard merges them")

    seen.clear()  # the resumed run computes only its own shard's images and reuses the recorded files
    merged, text = run_shard(harness, evaluation(2, 3))
    assert sum(seen) == 50
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in recorded.items())
    assert isinstance(merged, MetricsReport) and text.startswith("digits: FID ")
    marker = next((harness.folders.user_dir / "evaluations").rglob("merged_of_00003"))
    assert marker.read_text() == "2"

    single, _ = run_shard(harness, evaluation(ALL_SHARDS, 1))  # one image per call, as in the shards
    assert single.num_images == merged.num_images == ITEMS
    assert merged.fid == pytest.approx(single.fid, abs=1e-6)
    assert merged.is_mean == pytest.approx(single.is_mean, rel=1e-12)
    assert merged.clip_score == pytest.approx(single.clip_score, rel=1e-12)
    batched, _ = run_shard(harness, evaluation(ALL_SHARDS, 1, batched=1))  # one batch: the same items
    assert batched.num_images == ITEMS and batched.fid == pytest.approx(single.fid, rel=1e-6)

    assert merged.implementation.startswith("atelier-digits (grayscale")
    assert merged.feature_weights == "atelier-digits-classifier.safetensors"
    assert merged.reference == "atelier-digits-heldout.npz" and merged.reference_count is None
    assert merged.resolution == "32×32" and merged.source == "measured"
    assert merged.is_splits == "10 shuffled contiguous splits (torch-fidelity)"
    assert merged.clip_model == "clip-tiny" and merged.clip_scaling == "100·max(cos, 0)"
    assert "vs atelier-digits-heldout.npz (image count unknown)" in merged.summary().splitlines()[1]

    again, _ = run_shard(harness, evaluation(0, 3))  # a shard re-run after completion gives the result again
    assert isinstance(again, MetricsReport) and again.fid == pytest.approx(merged.fid, abs=1e-9)


def test_only_the_first_claim_of_the_merge_marker_wins(tmp_path):
    marker = tmp_path / "merged_of_00002"
    assert dataset_metrics.claim(marker, 1) and not dataset_metrics.claim(marker, 0)
    assert marker.read_text() == "1"


def test_images_must_match_the_items(harness):
    outcome = harness.run(evaluation(0, 3, extra_images=1))
    assert outcome.status == "error"
    message = next(m[1]["exception_message"] for m in outcome.messages if m[0] == "execution_error")
    assert "52 images for the 51 items of shard 1 of 3" in message


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
    """One random 32x32 image from a seed (runs once per item of a dataset's seed list)."""

    inputs = [Int("seed", 0, min=0, max=0xFFFFFFFFFFFFFFFF)]
    outputs = [Output("IMAGE")]

    def execute(self, seed: int) -> tuple:
        return (torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(seed)),)


def test_with_the_prompt_dataset_node_shards_merge_to_the_run_of_every_item(tmp_path):
    from nodes.builtin import datasets

    folders = Folders.under(tmp_path)
    folders.create()
    shutil.copy(REPO_FID / "atelier-digits-classifier.safetensors", folders.models_dir / "fid")
    harness = harness_for(folders, datasets, dataset_metrics, metrics, SimpleNamespace(NODES=[SeedImage]))

    def prompt(shard: int) -> dict:
        return {"1": node("LoadPromptDataset", dataset="digit_prompts.txt", format="auto", captions="one per image",
                          start=0, count=30, shuffle=False, seed=3, shard_size=12, shard=shard),
                "2": node("SeedImage", seed=("1", 1)),
                "3": node("EvaluateDataset", images=("2", 0), items=("1", 3), label="digits", metrics="all",
                          feature_net="atelier-digits (classifier)", resize_mode="pytorch-fid", clip_model="none"),
                "4": node("Keep", value=("3", 0))}

    assert harness.registry.get("LoadPromptDataset").shard_count(folders, **prompt(ALL_SHARDS)["1"]["inputs"]) == 3
    results = [harness.output(prompt(shard), "3") for shard in (0, 1, 2, ALL_SHARDS)]
    assert [isinstance(result, ExecutionBlocker) for result in results] == [True, True, False, False]
    merged, single = results[2:]
    assert merged.num_images == single.num_images == 30 and merged.is_mean == pytest.approx(single.is_mean, rel=1e-12)


def test_a_dataset_file_edited_in_place_is_not_merged_with_shards_of_its_old_items(tmp_path):
    from nodes.builtin import datasets

    folders = Folders.under(tmp_path)
    folders.create()
    shutil.copy(REPO_FID / "atelier-digits-classifier.safetensors", folders.models_dir / "fid")
    harness = harness_for(folders, datasets, dataset_metrics, metrics, SimpleNamespace(NODES=[SeedImage]))
    dataset = folders.models_dir / "datasets" / "mine.txt"
    dataset.write_text("".join(f"a digit {index % 10}\n" for index in range(24)))

    def prompt(shard: int) -> dict:
        return {"1": node("LoadPromptDataset", dataset="mine.txt", format="auto", captions="one per image",
                          start=0, count=0, shuffle=False, seed=3, shard_size=8, shard=shard),
                "2": node("SeedImage", seed=("1", 1)),
                "3": node("EvaluateDataset", images=("2", 0), items=("1", 3), label="digits", metrics="fid",
                          feature_net="atelier-digits (classifier)", resize_mode="pytorch-fid", clip_model="none"),
                "4": node("Keep", value=("3", 0))}

    results = [harness.output(prompt(shard), "3") for shard in (0, 1, 2)]
    assert [isinstance(result, ExecutionBlocker) for result in results] == [True, True, False]
    dataset.write_text("".join(f"a digit {9 - index % 10}\n" for index in range(24)))  # same count, new prompts
    os.utime(dataset, ns=(1, 1))  # a new modification time, however coarse the file system's clock
    again = harness.output(prompt(2), "3")  # queued again, the server runs only the last shard
    assert isinstance(again, ExecutionBlocker)  # shards 0 and 1 were made from the old prompts
    assert [isinstance(harness.output(prompt(shard), "3"), ExecutionBlocker) for shard in (0, 1)] == [True, False]
