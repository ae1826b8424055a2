"""ComfyUI's error shape: ``{type, message, details, extra_info}``, built in one place."""

from __future__ import annotations

from typing import Any


def error(kind: str, message: str, details: str = "", **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def input_error(kind: str, message: str, input_name: str, details: str = "", **extra: Any) -> dict[str, Any]:
    """An error about one input; ``extra_info.input_name`` lets the editor mark the exact widget or socket."""
    return error(kind, message, details or input_name, input_name=input_name, **extra)
