"""The model cache and the memory budget that --cache-ram sets for models and node outputs together."""

from __future__ import annotations

import os

import torch

from engine.model_cache import ModelCache, approx_bytes
from execution.cache import OutputCache
from runtime.memory import MemoryBudget

MIB = 1 << 20


def weights_file(path, tag: str):
    """A 1 MiB file: the cache asks the budget for room by file size before reading."""
    path.write_bytes(tag.encode() * MIB)
    return path


def read_mib(path) -> dict[str, torch.Tensor]:
    return {"w": torch.zeros(MIB // 4)}  # 1 MiB of float32


def test_a_file_is_read_once_until_it_changes(tmp_path):
    reads = []
    cache = ModelCache(free_bytes=lambda: 1 << 40)
    path = weights_file(tmp_path / "a.safetensors", "a")

    def read(p):
        reads.append(p)
        return read_mib(p)

    first = cache.load(path, "lora", read)
    assert cache.load(path, "lora", read) is first and len(reads) == 1
    assert cache.load(path, "other-kind", read) is not first and len(reads) == 2
    os.utime(path, ns=(1, 1))  # touched on disk: read again, the stale entry dropped
    cache.load(path, "lora", read)
    assert len(reads) == 3 and len(cache) == 2


def test_bytes_count_state_dicts_modules_and_tuples():
    linear = torch.nn.Linear(10, 10)
    assert approx_bytes(linear) == 110 * 4
    assert approx_bytes({"a": torch.zeros(3), "b": {"c": torch.zeros(2, dtype=torch.float16)}}) == 3 * 4 + 2 * 2
    assert approx_bytes((linear, {"a": torch.zeros(5)})) == 110 * 4 + 20


def test_models_leave_least_recently_used_when_memory_runs_short(tmp_path):
    free = iter([0, 0, 1 << 40])
    cache = ModelCache(free_bytes=lambda: next(free))
    cache._entries.update({("k", "a", 1, 1): 1, ("k", "b", 1, 1): 2, ("k", "c", 1, 1): 3})
    assert cache.evict_until(100) == 2 and len(cache) == 1


def test_the_budget_drops_older_outputs_first_then_models(tmp_path):
    outputs = OutputCache()
    models = ModelCache(free_bytes=lambda: 1 << 40)
    budget = MemoryBudget(3 * MIB + 4096, outputs, models)  # room for the cache entries' bookkeeping
    models.before_load = budget.trim
    for name in ("a", "b"):
        models.load(weights_file(tmp_path / f"{name}.pt", name), "lora", read_mib)
    outputs.put("old", [[torch.zeros(MIB // 4)]], None)
    outputs.pin({"latest"})  # the running prompt pins its outputs before it makes them
    outputs.put("latest", [[torch.zeros(MIB // 4)]], None)
    budget.trim()  # 4 MiB in a 3 MiB budget: the older prompt's output goes first
    assert "old" not in outputs and "latest" in outputs and len(models) == 2
    models.load(weights_file(tmp_path / "c.pt", "c"), "lora", read_mib)  # asks for room: model "a" leaves
    assert len(models) == 2 and "latest" in outputs
    assert outputs.total_bytes + models.total_bytes <= budget.max_bytes
