"""What a running node reaches beyond its inputs: the user's folders, the model cache, the device policy, progress
and interrupt.

The executor hands each node an ``ExecutionContext`` (a node's ``execute`` declares a ``context`` parameter to
receive it), as InvokeAI hands its invocations a context. ``progress()`` also raises ``Interrupted`` as soon as an
interrupt is requested, so long-running nodes stop within one step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from core.folders import Folders

T = TypeVar("T")


class Interrupted(Exception):
    """Raised inside a node when the user interrupted the prompt."""


class InterruptFlag:
    """A thread-safe flag the server sets and the executor polls.

    An interrupt may name its prompt. The server sends it to the worker it leased the prompt to, where it can arrive
    before that prompt starts (the worker is still starting) or after it ended (it finished meanwhile): one naming
    the prompt that starts next survives the start, one naming another prompt than the running one is ignored. An
    interrupt naming no prompt stops whatever runs, and a prompt's start clears it (ComfyUI's flag)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._target: str | None = None  # the prompt the pending interrupt names
        self._running: str | None = None

    def set(self, prompt_id: str | None = None) -> None:
        with self._lock:
            if prompt_id is not None and self._running not in (None, prompt_id):
                return  # meant for a prompt that has ended
            self._target = prompt_id
            self._event.set()

    def clear(self) -> None:
        with self._lock:
            self._target = None
            self._event.clear()

    def begin(self, prompt_id: str) -> None:
        """``prompt_id`` starts: an interrupt that named it stays, any other is cleared."""
        with self._lock:
            self._running = prompt_id
            if self._target is None or self._target != prompt_id:
                self._target = None
                self._event.clear()

    def end(self) -> None:
        with self._lock:
            self._running = None

    def is_set(self) -> bool:
        return self._event.is_set()


class ModelStore(Protocol):
    """The one owner of loaded weights (``engine.model_cache.ModelCache``): each file is read once while it is
    unchanged and in budget."""

    def load(self, path: str | Path, kind: str, read: Callable[[Path], T]) -> T: ...


ProgressSink = Callable[[int, int, Any], None]  # (value, max, preview image or None)


@dataclass
class ExecutionContext:
    """One node's view of the running system while it executes."""

    prompt_id: str
    node_id: str
    folders: Folders
    models: ModelStore
    # The engine's device policy (``engine.device.Devices``), handed to engine loaders; core does not import the engine.
    devices: Any
    interrupt: InterruptFlag = field(default_factory=InterruptFlag)
    on_progress: ProgressSink = field(default=lambda value, total, preview: None)

    def check_interrupted(self) -> None:
        if self.interrupt.is_set():
            raise Interrupted()

    def progress(self, value: int, total: int, preview: Any = None) -> None:
        """Report progress (``preview``: a PIL image shown on the node) and stop here if interrupted."""
        self.check_interrupted()
        self.on_progress(value, total, preview)


# The node running in this thread, for code that plug-ins call without a context in hand (ComfyUI's
# ``ProgressBar``, ``throw_exception_if_processing_interrupted``). Atelier's own nodes use their context.
_running: ContextVar[ExecutionContext | None] = ContextVar("atelier_running_node", default=None)


def current_context() -> ExecutionContext | None:
    return _running.get()


def enter_context(context: ExecutionContext | None) -> Any:
    return _running.set(context)


def leave_context(token: Any) -> None:
    _running.reset(token)
