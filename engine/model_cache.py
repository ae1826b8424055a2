"""The one owner of loaded weights: each model file is read once while it stays unchanged, and the least recently
used models leave when memory runs short or the budget (``--cache-ram``) is exceeded."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CacheKey = tuple[str, str, int, int]  # (kind, resolved path, size, mtime_ns)


def approx_bytes(value: Any) -> int:
    """Bytes held by the tensors and torch modules in ``value`` (a module, a tensor, a state dict, an object holding
    modules, or a tuple of those)."""
    import torch

    from engine.sd.memory import module_bytes

    if isinstance(value, torch.nn.Module):
        return module_bytes(value)
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(approx_bytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(approx_bytes(v) for v in value)
    if hasattr(value, "memory_bytes"):
        return int(value.memory_bytes())
    if hasattr(value, "__dict__"):
        return sum(module_bytes(v) for v in vars(value).values() if isinstance(v, torch.nn.Module))
    return 0


def available_memory() -> int:
    """Bytes that can still be allocated where idle weights live (the CPU's MemAvailable)."""
    import torch

    from engine.sd.memory import free_memory_bytes

    return free_memory_bytes(torch.device("cpu"))


class ModelCache:
    """Loaded models keyed by (kind, path, size, mtime), least recently used first.

    ``before_load(file_bytes)`` runs before a file is read: the runtime uses it to keep models and node outputs
    together within ``--cache-ram``. ``free_bytes`` reports free memory (the CPU's by default).
    """

    def __init__(self, before_load: Callable[[int], None] | None = None,
                 free_bytes: Callable[[], int] = available_memory) -> None:
        self._entries: OrderedDict[CacheKey, Any] = OrderedDict()
        self.before_load = before_load
        self.free_bytes = free_bytes

    @staticmethod
    def key(path: str | Path, kind: str) -> CacheKey:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        return (kind, str(resolved), stat.st_size, stat.st_mtime_ns)

    def load(self, path: str | Path, kind: str, read: Callable[[Path], T]) -> T:
        """The cached ``kind`` model of ``path``, read with ``read`` when missing or changed on disk."""
        key = self.key(path, kind)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        self._drop_stale(key)
        file_bytes = key[2]
        if self.before_load is not None:
            self.before_load(file_bytes)
        self.evict_until(2 * file_bytes)  # room for the weights and a compute copy
        value = read(Path(path))
        self._entries[key] = value
        return value

    def _drop_stale(self, key: CacheKey) -> None:
        for old in [k for k in self._entries if k[:2] == key[:2]]:
            del self._entries[old]

    @property
    def total_bytes(self) -> int:
        # Measured when asked: models grow compute-dtype copies after they are first used.
        return sum(approx_bytes(value) for value in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def drop_oldest(self) -> bool:
        """Forget the least recently used model; False when there is none. Its memory returns once nothing else
        (a cached node output, a running node) holds it."""
        if not self._entries:
            return False
        self._entries.popitem(last=False)
        return True

    def evict_until(self, bytes_free: int) -> int:
        """Drop least-recently-used models until ``free_bytes()`` reports at least ``bytes_free``; how many were
        dropped."""
        dropped = 0
        while self._entries and self.free_bytes() < bytes_free:
            self.drop_oldest()
            dropped += 1
        return dropped

    def clear(self) -> None:
        self._entries.clear()
