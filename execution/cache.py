"""Content-addressed output cache: a node's outputs are keyed by the signature of everything it depends on.

A signature hashes the node's class, its constant inputs, its fingerprint (IS_CHANGED) and the signatures of
the nodes feeding it, so re-queuing an unchanged prompt runs nothing, and changing one widget re-runs exactly
that node and its descendants, whatever the node ids are.

Policy: the outputs of the running (or latest) prompt are pinned and always kept; older ones stay, least
recently used first, until ``runtime.memory.MemoryBudget`` drops them to keep ``--cache-ram``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.registry import Registry
from execution.graph import Prompt, dependency_order, is_link, unwrap

Outputs = list[list[Any]]  # one list per output slot, one element per call of the node
ENTRY_OVERHEAD = 1024  # bookkeeping per entry, so even outputs of plain numbers count against the budget


@dataclass
class CacheEntry:
    outputs: Outputs
    ui: dict[str, list] | None
    nbytes: int


def estimate_bytes(value: Any, _seen: set[int] | None = None) -> int:
    """Approximate memory held by a value: tensors and arrays report ``nbytes``; containers are summed."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int) and not isinstance(value, type):
        return nbytes
    if isinstance(value, dict):
        return sum(estimate_bytes(item, seen) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(estimate_bytes(item, seen) for item in value)
    return 0


@dataclass
class OutputCache:
    entries: OrderedDict[str, CacheEntry] = field(default_factory=OrderedDict)
    pinned: set[str] = field(default_factory=set)

    def get(self, signature: str) -> CacheEntry | None:
        entry = self.entries.get(signature)
        if entry is not None:
            self.entries.move_to_end(signature)
        return entry

    def __contains__(self, signature: str) -> bool:
        return signature in self.entries

    def put(self, signature: str, outputs: Outputs, ui: dict[str, list] | None) -> None:
        self.entries[signature] = CacheEntry(outputs, ui, ENTRY_OVERHEAD + estimate_bytes(outputs))
        self.entries.move_to_end(signature)

    def pin(self, signatures: set[str]) -> None:
        """Keep these (the running prompt's) whatever the budget, until the next prompt pins its own."""
        self.pinned = set(signatures)

    def drop_oldest_unpinned(self) -> int | None:
        """Forget the least recently used entry of an older prompt; the bytes it held, or None if none is left."""
        signature = next((key for key in self.entries if key not in self.pinned), None)
        return None if signature is None else self.entries.pop(signature).nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.pinned.clear()

    @property
    def total_bytes(self) -> int:
        return sum(entry.nbytes for entry in self.entries.values())


def compute_signatures(registry: Registry, prompt: Prompt, node_ids: list[str],
                       fingerprint: Callable[[str], Any]) -> dict[str, str]:
    """The signature of each node in ``node_ids`` (and of their ancestors)."""
    signatures: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id in signatures:
            return signatures[node_id]
        node = prompt[node_id]
        definition = registry.get(node["class_type"])
        assert definition is not None
        parts: list[Any] = [node["class_type"], _stable(fingerprint(node_id))]
        if definition.not_idempotent or any(s.type == "UNIQUE_ID" for s in definition.section("hidden")):
            parts.append(["node_id", node_id])
        for name in sorted(node.get("inputs") or {}):
            value = node["inputs"][name]
            if is_link(value):
                parts.append([name, "link", signature(value[0]), int(value[1])])
            else:
                parts.append([name, _stable(unwrap(value))])
        signatures[node_id] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return signatures[node_id]

    for node_id in dependency_order(prompt, node_ids):  # sources first keeps recursion shallow
        signature(node_id)
    return signatures


def _stable(value: Any) -> Any:
    """A JSON-able stand-in for a value; values that cannot be compared never match (a fresh id)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else f"nan-{uuid.uuid4().hex}"  # NaN means "always re-run"
    if isinstance(value, (list, tuple)):
        return [_stable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _stable(item) for key, item in value.items()}
    return f"unhashable-{uuid.uuid4().hex}"
