"""Prompt datasets: COCO captions, CUB caption folders, PartiPrompts and plain prompt lists, one item per image,
split into shards the server queues as separate prompts (core.shards), then one report prompt (no items)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from core.folders import safe_join
from core.shards import ALL_SHARDS, REPORT_SHARD, SHARD_INPUT, DatasetShard, item_seed, items_digest
from engine.datasets.prompts import (
    CAPTION_MODES,
    FORMATS,
    PromptItem,
    detect_format,
    list_datasets,
    read_prompts,
    select_items,
    shard_items,
    shard_range,
)
from nodes.api import Boolean, Combo, ExecutionContext, Folders, Int, Node, Output

KIND = "datasets"
# Atelier's shipped example datasets, listed after the user's own folders and read where they are (never copied)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datasets"
MAX_SEED = 0xFFFFFFFFFFFFFFFF
# the inputs that decide how many items (and so shards) a run has; shuffle and seed only reorder or pick
COUNT_INPUTS = ("dataset", "format", "captions", "start", "count", "shard_size", SHARD_INPUT)


def dataset_dirs(folders: Folders) -> list[Path]:
    return [*folders.model_dirs(KIND), EXAMPLES]


def dataset_choices(folders: Folders) -> list[str]:
    """Dataset files and CUB caption folders (``name/``) of models/datasets, then the shipped examples."""
    names: list[str] = []
    for folder in dataset_dirs(folders):
        names.extend(name for name in list_datasets(folder) if name not in names)
    return names


def dataset_path(folders: Folders, name: str) -> Path:
    """The file or folder a dataset choice names, in the first folder that has it; it may not leave that folder."""
    for folder in dataset_dirs(folders):
        candidate = safe_join(folder, name)
        if candidate.exists():
            return candidate
    searched = ", ".join(str(folder) for folder in dataset_dirs(folders))
    raise FileNotFoundError(f"prompt dataset {name!r} not found in the datasets folders ({searched})")


def selected_prompts(folders: Folders, dataset: str, format: str, captions: str, start: int, count: int,
                     shuffle: bool, seed: int) -> tuple[str, list[PromptItem]]:
    """The run's items (what ``start``, ``count`` and ``shuffle`` select) and the format they were read as."""
    path = dataset_path(folders, dataset)
    chosen = detect_format(path) if format == "auto" else format
    items = read_prompts(path, chosen, one_per_image=captions == CAPTION_MODES[0], seed=seed)
    selected = select_items(items, start, count, seed if shuffle else None)
    if not selected:
        raise ValueError(f"{dataset}: no prompts selected ({len(items)} in the file, start {start}, count {count})")
    return chosen, selected


class LoadPromptDataset(Node):
    """Reads the prompts of a dataset (COCO captions, a CUB caption folder, PartiPrompts, CSV, JSONL or a text file
    with one prompt a line) from models/datasets. Each item's seed depends only on the seed and the item's index, so
    a run split into shards makes the same images as one run of every item."""

    display_name = "Load Prompt Dataset"
    category = "datasets"
    inputs = [
        Combo("dataset", dataset_choices, tooltip="A file or CUB caption folder in models/datasets "
              "(or a shipped example)."),
        Combo("format", list(FORMATS), default="auto", tooltip="auto: a folder is CUB; otherwise the file ending "
              "decides (.json COCO, .tsv PartiPrompts, .csv, .jsonl, .txt)."),
        Combo("captions", list(CAPTION_MODES), tooltip="COCO and CUB: one caption per image (picked with the seed) "
              "or every caption. Other formats ignore it."),
        Int("start", 0, min=0, max=100_000_000, tooltip="The first item taken (after shuffling)."),
        Int("count", 0, min=0, max=100_000_000, tooltip="How many items to take; 0 takes all from start."),
        Boolean("shuffle", False, tooltip="Take the items in an order shuffled with the seed instead of file order."),
        Int("seed", 0, min=0, max=MAX_SEED, tooltip="Each item's seed is derived from it and the item's index; "
            "it also shuffles and picks the captions."),
        Int("shard_size", 64, min=0, max=100_000_000, tooltip="Items per shard: the server queues one prompt per "
            "shard. 0 runs every item in one prompt."),
        Int(SHARD_INPUT, ALL_SHARDS, min=REPORT_SHARD, max=100_000_000,
            tooltip="Set by the server for each shard prompt (and -2 for the run's report); leave it at -1 "
            "(every item)."),
    ]
    outputs = [Output("STRING", "text", is_list=True), Output("INT", "seed", is_list=True),
               Output("INT", "index", is_list=True), Output("DATASET_SHARD", "items")]

    def execute(self, dataset: str, format: str, captions: str, start: int, count: int, shuffle: bool, seed: int,
                shard_size: int, shard: int, *, context: ExecutionContext) -> tuple:
        """Shard k's items; every item as one shard (ALL_SHARDS); or, for the report prompt (REPORT_SHARD), no items
        (so nothing after the lists runs) and the run's shard count, total and digest, for evaluation nodes."""
        chosen, selected = selected_prompts(context.folders, dataset, format, captions, start, count, shuffle, seed)
        total = len(selected)
        if shard == ALL_SHARDS:
            indices, shard, shards = range(total), 0, 1
        elif shard == REPORT_SHARD:
            indices, shards = range(0), shard_items(total, shard_size)
        else:
            indices, shards = shard_range(total, shard_size, shard), shard_items(total, shard_size)
        every_seed = [item_seed(seed, index) for index in range(total)]
        seeds = [every_seed[index] for index in indices]
        texts = [selected[index].text for index in indices]
        items = DatasetShard(f"{chosen}:{dataset}", list(indices), texts, seeds, shard, shards, total,
                             [dict(selected[index].metadata) for index in indices],
                             items_digest([item.text for item in selected], every_seed))
        return texts, seeds, list(indices), items

    @classmethod
    def shard_count(cls, folders: Folders, **inputs: Any) -> int:
        """The number of shards of a run of every item (shard -1) with a shard size; 1 on any doubt (a linked or
        bad input: validation or the run reports the problem). ``inputs`` holds the constant inputs only, so an
        input that decides the count but is missing is linked: its value is unknown until the run."""
        if any(name not in inputs for name in COUNT_INPUTS):
            return 1
        try:
            shard_size = int(inputs["shard_size"])
            if inputs[SHARD_INPUT] != ALL_SHARDS or shard_size <= 0:
                return 1
            _, selected = selected_prompts(folders, inputs["dataset"], inputs["format"], inputs["captions"],
                                           int(inputs["start"]), int(inputs["count"]),
                                           bool(inputs.get("shuffle", False)), int(inputs.get("seed", 0)))
            return shard_items(len(selected), shard_size)
        except Exception:
            return 1

    @classmethod
    def fingerprint(cls, folders: Folders, dataset: str | None = None, **_: Any) -> str:
        """Changes when the file, or any file of a CUB folder, changes."""
        if not dataset:
            return ""
        path = dataset_path(folders, dataset)
        files = [path] if path.is_file() else sorted(file for file in path.rglob("*") if file.is_file())
        digest = hashlib.sha256()
        for file in files:
            stat = file.stat()
            digest.update(f"{file.relative_to(path).as_posix()}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return digest.hexdigest()


NODES = [LoadPromptDataset]
