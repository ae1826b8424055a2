"""The single worker that takes prompts off the queue, runs them and records their history."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from execution.events import EventHub, PromptEvents
from execution.executor import ExecutionOutcome, Executor
from execution.queue import PromptQueue, QueueItem

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, queue: PromptQueue, executor: Executor, events: EventHub) -> None:
        self.queue = queue
        self.executor = executor
        self.events = events
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="atelier-worker", daemon=True)
        self.on_idle: list[Callable[[], None]] = []  # e.g. free memory requested by /free
        self.after_prompt: list[Callable[[], None]] = []  # e.g. trim caches to the memory budget

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Interrupt the running prompt (if any), stop, and wait up to ``timeout`` seconds; whether it stopped."""
        self._stop.set()
        self.executor.interrupt.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": self.queue.remaining()}}}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the worker must outlive anything a prompt, a hook or the store does
                log.exception("the worker recovered from an error between prompts")

    def _step(self) -> None:
        item = self.queue.get(timeout=0.5)
        if item is None:
            for action in self.on_idle:
                action()
            return
        self.events.send("status", self.status())
        self.run_item(item)
        for action in self.after_prompt + self.on_idle:  # /free is honoured between prompts too
            action()
        self.events.send("status", self.status())

    def run_item(self, item: QueueItem) -> None:
        events = PromptEvents(self.events, item.extra_data.get("client_id"))
        try:
            outcome = self.executor.execute(item.prompt_id, item.prompt, item.outputs, item.extra_data, events)
        except Exception as error:  # the worker must survive anything a prompt does
            log.exception("prompt %s crashed the executor", item.prompt_id)
            outcome = ExecutionOutcome("error", messages=[["execution_error", {
                "prompt_id": item.prompt_id, "exception_message": str(error),
                "exception_type": type(error).__name__}]])
        self.queue.task_done(item, history_entry(item, outcome))
        log.info("prompt %s %s in %.2f s", item.prompt_id, outcome.status, outcome.seconds)
        events.emit("executing", {"node": None, "prompt_id": item.prompt_id})


def history_entry(item: QueueItem, outcome: ExecutionOutcome) -> dict[str, Any]:
    return {
        "prompt": item.as_list(),
        "outputs": outcome.ui_outputs,
        "status": {
            "status_str": "success" if outcome.status == "success" else "error",
            "completed": outcome.status == "success",
            "messages": outcome.messages,
        },
        "meta": {node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None,
                           "real_node_id": node_id} for node_id in outcome.ui_outputs},
        "timing": {"seconds": round(outcome.seconds, 4), "executed": outcome.executed},
    }
