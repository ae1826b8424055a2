"""The CPU a figure was measured on: its model, cores and the flags that decide CPU speed (bf16/AMX or only AVX2),
printed beside every bench's figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    flags: set[str] = set()
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model, [flag for flag in FLAGS if flag in flags]


def cpu_summary() -> str:
    """``<model>; <n> cores; <flags>``, e.g. ``Intel Xeon; 2 cores; avx2 avx512f avx512_bf16 amx_bf16``."""
    model, flags = cpu_model_and_flags()
    return f"{model}; {os.cpu_count()} cores; {' '.join(flags) or 'no AVX2'}"
