"""What a running node can reach: progress reporting, previews and the interrupt flag.

The executor installs an ``ExecutionContext`` for the node it is running; nodes (and the engine callbacks
they pass down) call ``progress()``, which also raises ``Interrupted`` as soon as an interrupt is requested,
so long-running nodes stop within one step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class Interrupted(Exception):
    """Raised inside a node when the user interrupted the prompt."""


class InterruptFlag:
    """A thread-safe flag the server sets and the worker polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


ProgressSink = Callable[[int, int, Any], None]  # (value, max, preview image or None)


@dataclass
class ExecutionContext:
    prompt_id: str
    node_id: str
    interrupt: InterruptFlag
    on_progress: ProgressSink = field(default=lambda value, total, preview: None)

    def check_interrupted(self) -> None:
        if self.interrupt.is_set():
            raise Interrupted()

    def progress(self, value: int, total: int, preview: Any = None) -> None:
        self.check_interrupted()
        self.on_progress(value, total, preview)


_current: ContextVar[ExecutionContext | None] = ContextVar("atelier_execution_context", default=None)


def current_context() -> ExecutionContext | None:
    return _current.get()


def set_context(context: ExecutionContext | None) -> Any:
    return _current.set(context)


def reset_context(token: Any) -> None:
    _current.reset(token)


def progress(value: int, total: int, preview: Any = None) -> None:
    """Report progress of the running node (and stop it if interrupted). A no-op outside a prompt."""
    context = _current.get()
    if context is not None:
        context.progress(value, total, preview)


def check_interrupted() -> None:
    context = _current.get()
    if context is not None:
        context.check_interrupted()
