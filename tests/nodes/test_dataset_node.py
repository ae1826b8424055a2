"""Load Prompt Dataset through the executor: each shard holds exactly the items and seeds of its slice of the whole
run, the report prompt's shard holds none, shard_count splits the run as the server will, and the shipped example is
listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.folders import Folders
from core.registry import Registry
from core.shards import ALL_SHARDS, REPORT_SHARD, DatasetShard, item_seed
from nodes.builtin import builtin_definitions, datasets
from nodes.builtin.datasets import LoadPromptDataset
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "datasets" / "digit_prompts.txt"


@pytest.fixture
def harness(tmp_path) -> Harness:
    folders = Folders.under(tmp_path)
    folders.create()
    captions = folders.models_dir / "datasets" / "birds" / "text_c10" / "001.Albatross"
    captions.mkdir(parents=True)
    for image in range(5):
        (captions / f"bird_{image}.txt").write_text(f"a bird number {image}\nanother bird {image}\n")
    return harness_for(folders, datasets)


def inputs(**changed) -> dict:
    return {"dataset": "digit_prompts.txt", "format": "auto", "captions": "one per image", "start": 3, "count": 70,
            "shuffle": True, "seed": 12345, "shard_size": 64, "shard": ALL_SHARDS, **changed}


def run(harness: Harness, **changed) -> tuple[list, list, list, DatasetShard]:
    prompt = {"1": node("LoadPromptDataset", **inputs(**changed)), "2": node("Keep", value=("1", 3))}
    outcome = harness.run(prompt)
    assert outcome.status == "success", outcome.messages
    texts, seeds, indices, items = harness.results["1"]
    return texts, seeds, indices, items[0]


def test_every_shard_is_its_slice_of_the_whole_run(harness):
    texts, seeds, indices, whole = run(harness)
    assert (whole.shard, whole.shards, whole.total, whole.indices) == (0, 1, 70, list(range(70)))
    assert whole.texts == texts and whole.seeds == seeds == [item_seed(12345, i) for i in range(70)]
    assert indices == whole.indices and len(set(texts)) == 10 and len(set(seeds)) == 70
    assert whole.dataset == "txt:digit_prompts.txt" and whole.metadata[0].keys() == {"line"}
    for size in (1, 7, 32, 64, 100):
        shards = LoadPromptDataset.shard_count(harness.folders, **inputs(shard_size=size))
        assert shards == -(-70 // size)
        for shard in range(shards):
            shard_texts, shard_seeds, shard_indices, part = run(harness, shard_size=size, shard=shard)
            expected = range(shard * size, min(70, shard * size + size))
            assert shard_indices == part.indices == list(expected), (size, shard)
            assert shard_texts == part.texts == [texts[i] for i in expected]
            assert shard_seeds == part.seeds == [seeds[i] for i in expected]
            assert part.metadata == [whole.metadata[i] for i in expected]
            assert (part.shard, part.shards, part.total) == (shard, shards, 70)
            assert part.digest == whole.digest != ""  # one run: the evaluation's shards are recorded together


def test_the_report_shard_gives_no_items_and_describes_the_run(harness):
    _, _, _, whole = run(harness)
    texts, seeds, indices, report = run(harness, shard_size=32, shard=REPORT_SHARD)
    assert texts == seeds == indices == [] and report.indices == report.texts == report.seeds == report.metadata == []
    assert (report.shard, report.shards, report.total) == (REPORT_SHARD, 3, 70)  # 70 items in shards of 32
    assert report.dataset == whole.dataset and report.digest == whole.digest != ""  # the shards' evaluation folder
    assert LoadPromptDataset.shard_count(harness.folders, **inputs(shard_size=32, shard=REPORT_SHARD)) == 1


def test_a_shard_past_the_end_fails_clearly(harness):
    prompt = {"1": node("LoadPromptDataset", **inputs(shard_size=64, shard=2)), "2": node("Keep", value=("1", 3))}
    outcome = harness.run(prompt)
    errors = [m[1]["exception_message"] for m in outcome.messages if m[0] == "execution_error"]
    assert outcome.status == "error" and "shard 2 does not exist: 70 items in shards of 64 make 2 shards" in errors[0]


def test_shard_count_splits_only_a_whole_run_and_never_raises(harness):
    folders = harness.folders
    assert LoadPromptDataset.shard_count(folders, **inputs(count=0, start=0, shard_size=30)) == 4  # 100 prompts
    assert LoadPromptDataset.shard_count(folders, **inputs(shard=1)) == 1  # already one shard
    assert LoadPromptDataset.shard_count(folders, **inputs(shard_size=0)) == 1  # no sharding
    for bad in ({"dataset": "missing.txt"}, {"dataset": "../../etc/passwd"}, {"start": -5}, {"start": 1000},
                {"seed": "not a number"}, {"format": "coco"}):
        assert LoadPromptDataset.shard_count(folders, **inputs(shard_size=1, **bad)) == 1, bad
    for linked in ("dataset", "count", "start", "shard_size", "shard"):  # the server passes constants only
        constants = {name: value for name, value in inputs(shard_size=1).items() if name != linked}
        assert LoadPromptDataset.shard_count(folders, **constants) == 1, linked  # its value is not known yet


def test_cub_folder_one_caption_per_image_or_all(harness):
    texts, _, _, items = run(harness, dataset="birds/text_c10/", shuffle=False, start=0, count=0)
    assert items.dataset == "cub:birds/text_c10/" and len(texts) == 5
    assert [meta["image"] for meta in items.metadata] == [f"bird_{i}" for i in range(5)]
    every, _, _, _ = run(harness, dataset="birds/text_c10/", captions="all", shuffle=False, start=0, count=0)
    assert every[:2] == ["a bird number 0", "another bird 0"] and len(every) == 10


def test_the_combo_lists_user_datasets_then_the_shipped_example(harness):
    (harness.folders.models_dir / "datasets" / "mine.csv").write_text("prompt\na boat\n")
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    info = registry.object_info(harness.folders)["LoadPromptDataset"]
    assert info["input"]["required"]["dataset"][0] == ["birds/text_c10/", "mine.csv", "digit_prompts.txt"]
    assert info["output"] == ["STRING", "INT", "INT", "DATASET_SHARD"]
    assert info["output_is_list"] == [True, True, True, False]
    assert info["input"]["required"]["shard"][1]["default"] == ALL_SHARDS
    assert info["input"]["required"]["shard"][1]["min"] == REPORT_SHARD  # the report prompt passes validation
    assert registry.get("LoadPromptDataset").shard_count is not None  # the server asks it to split runs


def test_the_shipped_example_has_a_hundred_digit_prompts():
    lines = [line for line in EXAMPLE.read_text().splitlines() if not line.startswith("#")]
    assert lines == [f"a handwritten digit {i % 10}" for i in range(100)]


def test_fingerprint_changes_with_the_file(harness):
    path = harness.folders.models_dir / "datasets" / "list.txt"
    path.write_text("a cat\n")
    before = LoadPromptDataset.fingerprint(harness.folders, dataset="list.txt")
    path.write_text("a cat\na dog\n")
    assert LoadPromptDataset.fingerprint(harness.folders, dataset="list.txt") != before
    cub = LoadPromptDataset.fingerprint(harness.folders, dataset="birds/text_c10/")
    (harness.folders.models_dir / "datasets" / "birds" / "text_c10" / "001.Albatross" / "bird_9.txt").write_text("x")
    assert LoadPromptDataset.fingerprint(harness.folders, dataset="birds/text_c10/") != cub
