"""Dataset runs: a prompt whose dataset node has several shards is queued as one prompt per shard.

The server asks each node's ``shard_count`` (core.definition) and, when one says more than 1, queues copies of the
prompt with that node's ``shard`` input set to 0, 1, ... The items of a shard, and each item's seed, depend only on
the dataset and the item's global index, so how a run is sharded never changes an image.

Two keys name a run's pieces, both independent of the shard numbers:
- ``run_key(prompt)``: the whole prompt; the store records which shards of it finished, so queueing the same run
  again runs only the missing shards.
- ``evaluation_key(prompt, node_id)``: the part of the prompt a node depends on; an evaluation node keeps its
  per-shard statistics under it, so an unchanged evaluation finds the shards other prompts recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

SHARD_INPUT = "shard"
ALL_SHARDS = -1  # the shard input's default: every item in one prompt (the server splits it when queued)
# The shard input of a run's report prompt, which the server queues once every shard has finished: the dataset node
# gives no items (so nothing generates) and evaluation nodes merge the shards' recorded statistics.
REPORT_SHARD = -2


@dataclass(frozen=True)
class DatasetShard:
    """The DATASET_SHARD value: the items of one shard of a prompt dataset run (no torch)."""

    dataset: str  # what the items were read from, for reports ("coco:captions_val2014.json", ...)
    indices: list[int]  # global item indices, 0-based over the run's items
    texts: list[str]
    seeds: list[int]  # item_seed(base seed, global index) for each item
    shard: int  # this shard's number, 0-based
    shards: int  # how many shards the run has
    total: int  # items in the whole run
    metadata: list[dict[str, Any]] = field(default_factory=list)  # per item: image_id, class, category, ...
    # items_digest(every text and seed of the run), the same in every shard; it changes when a dataset file is edited
    # in place, which the prompt does not show. "" when the dataset node does not give one.
    digest: str = ""


def item_seed(base_seed: int, index: int) -> int:
    """The seed of a dataset's item ``index``: a 64-bit hash of (base seed, index), so neighbouring items and
    neighbouring base seeds never share noise, and the seed does not depend on the shard or batch."""
    digest = hashlib.blake2b(f"{int(base_seed)}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFFFFFFFFFF  # positive: any torch generator takes it


def items_digest(texts: list[str], seeds: list[int]) -> str:
    """A digest of a run's items (every text and seed, in order): what ``DatasetShard.digest`` holds."""
    return _digest([list(texts), [int(seed) for seed in seeds]])


def without_shards(prompt: dict[str, Any]) -> dict[str, Any]:
    """The prompt with every node's shard input removed (what stays the same across a run's shards)."""
    return {node_id: {**node, "inputs": {name: value for name, value in node.get("inputs", {}).items()
                                         if name != SHARD_INPUT}}
            for node_id, node in prompt.items()}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:20]


def run_key(prompt: dict[str, Any], dataset_fingerprint: Any = None) -> str:
    """The run's key: its prompt without shard inputs, and the dataset node's fingerprint (a dataset file edited in
    place makes another run)."""
    return _digest([without_shards(prompt), dataset_fingerprint])


def evaluation_key(prompt: dict[str, Any], node_id: str) -> str:
    """A key of ``node_id`` and every node it depends on, shard inputs left out."""
    needed, stack = set(), [str(node_id)]
    while stack:
        current = stack.pop()
        if current in needed or current not in prompt:
            continue
        needed.add(current)
        stack.extend(str(value[0]) for value in prompt[current].get("inputs", {}).values()
                     if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int))
    part = without_shards({nid: prompt[nid] for nid in needed})
    return _digest([str(node_id), part])
