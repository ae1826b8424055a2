"""Read a ``.safetensors`` file tensor by tensor with plain reads, each tensor converted to the dtype its caller
wants as it is read.

``safetensors`` itself memory-maps the file: every page it touches stays resident (and counted in the process's
RSS) while any tensor of the file lives, so converting a 2 GB fp16 checkpoint to bf16 that way peaks near 4 GB.
Here only the converted tensors and one tensor's raw bytes are held at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch

DtypeFor = Callable[[str, torch.dtype], torch.dtype]  # (key, dtype in the file) -> dtype to hold it in

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "I64": torch.int64, "I32": torch.int32,
    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def read_safetensors(path: Path, dtype_for: DtypeFor) -> dict[str, torch.Tensor]:
    """All tensors of ``path``, each held in ``dtype_for(key, file dtype)``; raises ``ValueError`` saying what is
    wrong with a malformed or truncated file."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        header, data_start = _header(f, size)
        out: dict[str, torch.Tensor] = {}
        for key, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            begin, end = (data_start + offset for offset in info["data_offsets"])
            if end > size or begin > end:
                raise ValueError(f"tensor {key!r} lies past the end of the file (truncated?)")
            stored = DTYPES.get(info["dtype"])
            if stored is None:
                raise ValueError(f"tensor {key!r} has an unsupported dtype {info['dtype']}")
            raw = torch.empty(end - begin, dtype=torch.uint8)
            f.seek(begin)
            if not _read_fully(f, memoryview(raw.numpy())):
                raise ValueError(f"short read of tensor {key!r} (truncated?)")
            tensor = raw.view(stored).reshape(info["shape"])
            out[key] = tensor.to(dtype_for(key, stored))
            del raw, tensor  # one tensor's raw bytes at a time
    return out


def _read_fully(f: BinaryIO, buffer: memoryview) -> bool:
    """Fill ``buffer`` from ``f``; False if the file ends first. One read returns at most ~2 GiB on Linux."""
    done = 0
    while done < len(buffer):
        count = f.readinto(buffer[done:])
        if not count:
            return False
        done += count
    return True


def _header(f: BinaryIO, size: int) -> tuple[dict[str, dict], int]:
    prefix = f.read(8)
    if len(prefix) != 8:
        raise ValueError("shorter than a safetensors header")
    length = int.from_bytes(prefix, "little")
    if length > min(MAX_HEADER, size - 8):
        raise ValueError(f"header of {length} bytes does not fit the file")
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    header.pop("__metadata__", None)
    for key, info in header.items():
        if not (isinstance(info, dict) and {"dtype", "shape", "data_offsets"} <= info.keys()):
            raise ValueError(f"header entry {key!r} lacks dtype, shape or data_offsets")
    return header, 8 + length
