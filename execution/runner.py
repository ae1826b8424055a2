"""Where a prompt runs: the narrow interface between the queue's worker threads and an executor.

The worker (``execution.worker``) leases a prompt from the queue and hands it to a ``PromptRunner``; the runner
runs it to the end and returns the outcome, sending progress, previews and ``executed`` events to the server's
event hub as they happen. Three runners exist: ``LocalRunner`` (this process's executor), and in ``runtime/`` one
per worker process (``--workers N``) and one per Ray actor (``--ray``). A runner whose worker dies mid-prompt
raises ``WorkerLost``: the prompt goes back to the queue and runs again elsewhere.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any, Protocol

from execution.events import EventHub, PromptEvents
from execution.executor import ExecutionOutcome, Executor
from execution.queue import QueueItem


class WorkerLost(Exception):
    """The worker running a prompt died or vanished before the prompt finished; nothing of it was recorded."""


class PromptRunner(Protocol):
    name: str  # unique among the server's runners: "local", "worker-1", "ray-0"

    def info(self) -> dict[str, Any]:
        """What ran a prompt, as history and /queue show it: name, kind, host, pid, device."""
        ...

    def start(self) -> None:
        """Get ready before the first prompt (start a process or an actor); ``run`` starts it too if needed."""
        ...

    def run(self, item: QueueItem, events: EventHub) -> ExecutionOutcome:
        """Run ``item`` to the end; events are sent to ``events`` as they happen. Raises WorkerLost."""
        ...

    def interrupt(self, prompt_id: str) -> None:
        """Stop prompt ``prompt_id`` at its next check: the prompt this runner runs, or the one it is about to start
        (an interrupt can overtake the start of a prompt); ignored once that prompt has ended."""
        ...

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """``POST /free``, carried out between prompts."""
        ...

    def close(self) -> None: ...


class LocalRunner:
    """Runs prompts with this process's executor (the default: one worker, models in the server's own cache)."""

    def __init__(self, executor: Executor, free: Callable[[bool, bool], None] | None = None,
                 after_prompt: Callable[[], None] | None = None, name: str = "local") -> None:
        self.name = name
        self.executor = executor
        self._free = free
        self._after_prompt = after_prompt

    def info(self) -> dict[str, Any]:
        device = getattr(self.executor.devices, "compute_device", None)
        return {"name": self.name, "kind": "local", "host": socket.gethostname(), "pid": os.getpid(),
                "device": str(device()) if callable(device) else "cpu"}

    def start(self) -> None:
        pass

    def run(self, item: QueueItem, events: EventHub) -> ExecutionOutcome:
        prompt_events = PromptEvents(events, item.extra_data.get("client_id"))
        try:
            return self.executor.execute(item.prompt_id, item.prompt, item.outputs, item.extra_data, prompt_events)
        finally:
            if self._after_prompt is not None:
                self._after_prompt()

    def interrupt(self, prompt_id: str) -> None:
        self.executor.interrupt.set(prompt_id)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if self._free is not None:
            self._free(unload_models, free_memory)

    def close(self) -> None:
        self.executor.interrupt.set()
