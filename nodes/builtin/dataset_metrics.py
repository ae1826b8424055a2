"""Scoring a sharded dataset run: each shard records the mergeable statistics of its images, the report merges them.

A dataset run is queued as one prompt per shard (core.shards), and each may run on another worker. In a shard
prompt (the dataset node's shard k of n, n > 1) this node computes its shard's statistics
(engine.metrics.shard_stats), records them in

    <user_dir>/evaluations/<key>/shard_<k>_of_<n>.npz     (k, n: five digits)

and outputs ExecutionBlocker(None), so the nodes after it (Compare Models) do not run. Once every shard has
finished, the server queues one *report prompt*: the same graph with the dataset node's shard input set to
REPORT_SHARD. Its dataset node gives no items (nothing generates) and this node, given no images, loads the n
recorded shards one at a time, merges them and outputs the METRICS: every evaluation node of the graph reports in
that one prompt, and Compare Models runs once. A run of every item in one prompt (one shard) outputs its METRICS
directly and records nothing.

The key is ``evaluation_key(prompt, node)-<the run's items digest>`` (``evaluation_folder``): it leaves out the shard
numbers, so a run resumed after an interruption finds the shards it recorded before, and re-running a shard
overwrites only its own file. The digest of every text and seed (``DatasetShard.digest``) changes when a dataset file
is edited in place, which the prompt does not show, so shards recorded from the old items are never merged with new
ones. Delete the key's folder to start an evaluation afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.blocker import ExecutionBlocker
from core.shards import REPORT_SHARD, DatasetShard, evaluation_key
from engine.metrics.names import METRIC_SETS
from nodes.api import Combo, ExecutionContext, Folders, Hidden, Node, NodeResult, Output, Socket
from nodes.builtin.metrics import (
    NO_STATS,
    clip_models,
    feature_extractor,
    load_clip_model,
    load_reference,
    scoring_inputs,
    shown,
)

if TYPE_CHECKING:
    import torch

    from engine.metrics.shard_stats import ShardStatistics

NO_CLIP = "none"
LISTED = 10  # missing shards named in an error


def clip_choices(folders: Folders) -> list[str]:
    return [NO_CLIP, *clip_models(folders)]


def evaluation_folder(user_dir: Path, prompt: dict[str, Any], node_id: str, shard: DatasetShard) -> Path:
    key = evaluation_key(prompt, node_id)
    return user_dir / "evaluations" / (f"{key}-{shard.digest[:12]}" if shard.digest else key)


def shard_file(folder: Path, shard: int, shards: int) -> Path:
    return folder / f"shard_{shard:05d}_of_{shards:05d}.npz"


def every_shard_file(folder: Path, shards: int) -> list[Path]:
    """The files of all ``shards`` shards of a run; an error naming the shards not recorded."""
    paths = [shard_file(folder, shard, shards) for shard in range(shards)]
    missing = [shard for shard, path in enumerate(paths) if not path.is_file()]
    if missing:
        named = ", ".join(str(shard + 1) for shard in missing[:LISTED])
        more = f" and {len(missing) - LISTED} more" if len(missing) > LISTED else ""
        plural = "s" if len(missing) > 1 else ""
        raise FileNotFoundError(
            f"the report needs the statistics of all {shards} shards, but {folder} lacks shard{plural} {named}{more} "
            f"of {shards} (file{plural} {paths[missing[0]].name}{', ...' if plural else ''}). A shard run with "
            "another user folder or on other dataset items is recorded elsewhere.")
    return paths


def _loaded(paths: list[Path], progress: Callable[[int, int], None]) -> Iterator[ShardStatistics]:
    """The shard files read one at a time, so a merge holds one shard beside its running sums."""
    from engine.metrics.shard_stats import ShardStatistics

    for done, path in enumerate(paths):
        yield ShardStatistics.load(path)
        progress(done + 1, len(paths))


def _one(value: Any) -> Any:
    """A constant input's value: with ``input_is_list`` a connected or typed input arrives as a one-item list."""
    return value[0] if isinstance(value, list) else value


def _items(values: list[DatasetShard] | DatasetShard) -> DatasetShard:
    items = values if isinstance(values, list) else [values]
    if len(items) != 1:
        raise ValueError(f"items: expected the DATASET_SHARD of one dataset node, got {len(items)} values")
    return items[0]


class EvaluateDataset(Node):
    """Scores a sharded dataset run (FID, KID, IS, precision/recall, CLIP score per item's text): each shard
    records its statistics under user/evaluations and blocks what follows this node; the run's report prompt,
    which the server queues once every shard has finished, merges them and outputs the METRICS. The result equals
    one pass over all the images."""

    display_name = "Evaluate Dataset (sharded)"
    category = "metrics"
    input_is_list = True
    inputs = [Socket("images", "IMAGE", tooltip="The images made from this shard's items, one per item, in order."),
              Socket("items", "DATASET_SHARD", tooltip="The shard the images were made from."),
              *scoring_inputs("fid"),
              Combo("clip_model", clip_choices, optional=True, tooltip="A Hugging Face CLIP folder in models/fid "
                    "to score each image against its item's text, or none."),
              Hidden("prompt", "PROMPT"), Hidden("unique_id", "UNIQUE_ID")]
    outputs = [Output("METRICS")]

    @classmethod
    def fingerprint(cls, folders: Folders, **inputs: Any) -> Any:
        return float("nan")  # the report depends on the shards' files: never reuse a cached result

    def execute(self, images: list[torch.Tensor], items: list[DatasetShard], label: list[str], metrics: list[str],
                feature_net: list[str], resize_mode: list[str], prompt: list[dict], unique_id: list[str],
                reference_images: list[torch.Tensor] | None = None, reference_stats: list[str] | str = NO_STATS,
                clip_model: list[str] | str = NO_CLIP, *, context: ExecutionContext) -> NodeResult:
        shard = _items(items)
        folder = evaluation_folder(context.folders.user_dir, _one(prompt), str(_one(unique_id)), shard)
        extractor = feature_extractor(_one(feature_net), _one(resize_mode), context)
        if shard.shard == REPORT_SHARD:
            statistics = self._merged(images, shard, folder, context)
        else:
            statistics = self._statistics(images, shard, extractor, _one(metrics), _one(resize_mode),
                                          _one(clip_model), context)
            if shard.shards > 1:
                statistics.save(shard_file(folder, shard.shard, shard.shards))
                return NodeResult((ExecutionBlocker(None),),
                                  {"text": [f"shard {shard.shard + 1} of {shard.shards} recorded"]})
        real = load_reference(extractor, _concatenated(reference_images), _one(reference_stats), context.folders)
        return shown(statistics.finalize(real, _one(metrics), _one(label)))

    def _merged(self, images: list[torch.Tensor], shard: DatasetShard, folder: Path,
                context: ExecutionContext) -> ShardStatistics:
        """The report prompt's statistics: every recorded shard of the run, merged one file at a time."""
        from engine.metrics.shard_stats import ShardStatistics

        count = sum(len(batch) for batch in images)
        if count:
            raise ValueError(f"the report prompt makes no images (its dataset node gives no items), got {count}")
        merged = ShardStatistics.merge(_loaded(every_shard_file(folder, shard.shards), context.progress))
        if len(merged.indices) != shard.total:
            raise ValueError(f"the {shard.shards} recorded shards in {folder} hold {len(merged.indices)} items, the "
                             f"run has {shard.total}: delete that folder to evaluate afresh")
        return merged

    def _statistics(self, images: list[torch.Tensor], shard: DatasetShard, extractor: Any, metrics: str,
                    resize_mode: str, clip_model: str, context: ExecutionContext) -> ShardStatistics:
        from engine.metrics.shard_stats import shard_statistics

        count = sum(len(batch) for batch in images)
        if count != len(shard.indices):
            raise ValueError(f"{count} images for the {len(shard.indices)} items of shard {shard.shard + 1} of "
                             f"{shard.shards}: connect one image per item")
        scorer = load_clip_model(context, clip_model) if clip_model != NO_CLIP else None
        return shard_statistics(extractor, images, shard.indices, shard.texts, scorer, "is" in METRIC_SETS[metrics],
                                run_size=shard.total, resize_mode=resize_mode,
                                clip_model=clip_model if scorer is not None else "",
                                progress=lambda done: context.progress(done, count))


def _concatenated(images: list[torch.Tensor] | None) -> torch.Tensor | None:
    if not images:
        return None
    import torch

    return images[0] if len(images) == 1 else torch.cat(images)


NODES = [EvaluateDataset]
