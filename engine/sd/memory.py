"""How much memory a device has free, for batch splitting and cache eviction."""

from __future__ import annotations

import torch


def free_memory_bytes(device: torch.device) -> int:
    """Bytes that can still be allocated on ``device`` (MemAvailable for the CPU)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3  # no /proc (macOS, Windows): assume a modest machine


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes held by a module's parameters and buffers."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
