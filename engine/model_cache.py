"""A small cache of loaded models, so that each weights file is read once while it stays unchanged."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine import device as devices
from engine.sd.memory import free_memory_bytes, module_bytes

T = TypeVar("T")
CacheKey = tuple[str, str, int, int]  # (kind, resolved path, size, mtime_ns)


def approx_bytes(value: Any) -> int:
    """Bytes held by the torch modules in ``value`` (a module, an object holding modules, or a tuple)."""
    if isinstance(value, torch.nn.Module):
        return module_bytes(value)
    if isinstance(value, (tuple, list)):
        return sum(approx_bytes(v) for v in value)
    if hasattr(value, "memory_bytes"):
        return int(value.memory_bytes())
    if hasattr(value, "__dict__"):
        return sum(module_bytes(v) for v in vars(value).values() if isinstance(v, torch.nn.Module))
    return 0


@dataclass
class _Entry:
    value: Any

    @property
    def nbytes(self) -> int:
        # Computed on demand: models grow compute-dtype copies after they are first used.
        return approx_bytes(self.value)


class ModelCache:
    """Least-recently-used cache of loaded models keyed by (kind, path, size, mtime)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()

    @staticmethod
    def key(path: str | Path, kind: str) -> CacheKey:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        return (kind, str(resolved), stat.st_size, stat.st_mtime_ns)

    def get_or_load(self, path: str | Path, kind: str, loader: Callable[[Path], T]) -> T:
        """The cached ``kind`` model of ``path``, loading it with ``loader`` when missing or changed."""
        key = self.key(path, kind)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key].value
        self._drop_stale(key)
        self.evict_until(2 * Path(path).stat().st_size)  # room for the weights and a compute copy
        value = loader(Path(path))
        self._entries[key] = _Entry(value)
        return value

    def _drop_stale(self, key: CacheKey) -> None:
        for old in [k for k in self._entries if k[:2] == key[:2]]:
            del self._entries[old]

    @property
    def total_bytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def evict_until(self, bytes_free: int, free_bytes: Callable[[], int] | None = None) -> int:
        """Drop least-recently-used models until ``free_bytes()`` reports at least ``bytes_free``.

        Returns how many entries were dropped. Memory is only returned once nothing else holds the models.
        """
        probe = free_bytes or (lambda: free_memory_bytes(devices.offload_device()))
        dropped = 0
        while self._entries and probe() < bytes_free:
            self._entries.popitem(last=False)
            dropped += 1
        return dropped

    def clear(self) -> None:
        self._entries.clear()


MODEL_CACHE = ModelCache()
