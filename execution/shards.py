"""Splitting a validated prompt into a dataset run's shard prompts (see ``core.shards``).

A prompt is split by its dataset node: the one node whose ``shard_count`` says more than 1 while its ``shard`` input
is ``ALL_SHARDS``. Each shard prompt is the same prompt with that input set; shards the store recorded as finished
for the same run are left out, so queueing an interrupted run again finishes it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.folders import Folders
from core.registry import Registry
from core.shards import ALL_SHARDS, SHARD_INPUT, run_key
from execution.graph import Prompt, is_link, unwrap


class ShardingError(ValueError):
    """The prompt cannot be split (two dataset nodes would split it differently)."""


@dataclass
class ShardPlan:
    node_id: str
    shards: int
    run: str
    todo: list[int] = field(default_factory=list)  # shards still to run, in order (none: only the report is due)
    done: list[int] = field(default_factory=list)  # shards recorded finished earlier


def _constants(node: dict[str, Any]) -> dict[str, Any]:
    return {name: unwrap(value) for name, value in node["inputs"].items() if not is_link(value)}


def shard_counts(registry: Registry, folders: Folders, prompt: Prompt) -> dict[str, int]:
    """Each dataset node of the prompt that asks to be split, with its number of shards."""
    counts = {}
    for node_id, node in prompt.items():
        definition = registry.get(node["class_type"])
        if definition is None or definition.shard_count is None:
            continue
        constants = _constants(node)
        if constants.get(SHARD_INPUT, ALL_SHARDS) != ALL_SHARDS:
            continue  # already one shard (a client that drives the shards itself)
        try:
            count = int(definition.shard_count(folders, **constants))
        except Exception:  # validation has reported what is wrong with the inputs; run unsplit
            count = 1
        if count > 1:
            counts[node_id] = count
    return counts


def dataset_fingerprint(registry: Registry, folders: Folders, node: dict[str, Any]) -> Any:
    definition = registry.get(node["class_type"])
    if definition is None or definition.fingerprint is None:
        return None
    try:
        return repr(definition.fingerprint(folders, **_constants(node)))
    except Exception:
        return None


def plan_shards(registry: Registry, folders: Folders, prompt: Prompt, finished: Callable[[str, int], set[int]],
                in_queue: Callable[[str], set[int]] = lambda run: set()) -> ShardPlan | None:
    """How to queue ``prompt``: None when it is not split. ``finished(run, shards)`` gives the shards recorded
    finished, ``in_queue(run)`` those queued or running now; neither is queued again."""
    counts = shard_counts(registry, folders, prompt)
    if not counts:
        return None
    if len(counts) > 1:
        names = ", ".join(f"#{node_id}" for node_id in sorted(counts))
        raise ShardingError(f"dataset nodes {names} would each split the run; link every generator to one dataset "
                            "node, or set a shard on all but one")
    (node_id, shards), = counts.items()
    run = run_key(prompt, dataset_fingerprint(registry, folders, prompt[node_id]))
    done = sorted(finished(run, shards) & set(range(shards)))
    busy = in_queue(run)
    todo = [shard for shard in range(shards) if shard not in done and shard not in busy]
    return ShardPlan(node_id, shards, run, todo, done)


def shard_prompt(prompt: Prompt, node_id: str, shard: int) -> Prompt:
    copied: dict[str, Any] = copy.deepcopy(prompt)
    copied[node_id]["inputs"][SHARD_INPUT] = shard
    return copied
