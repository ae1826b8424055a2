"""The single worker that takes prompts off the queue, runs them and records their history."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from execution.executor import ExecutionOutcome, Executor
from execution.queue import PromptQueue, QueueItem

log = logging.getLogger(__name__)

Send = Callable[[str, dict[str, Any], str | None], None]  # (event, data, client id or None = everyone)
SendPreview = Callable[[Any, str | None, str, str], None]

BROADCAST_WITHOUT_CLIENT = {"progress", "execution_interrupted"}  # ComfyUI broadcasts these when no client_id


class Worker:
    def __init__(self, queue: PromptQueue, executor: Executor, send: Send, send_preview: SendPreview) -> None:
        self.queue = queue
        self.executor = executor
        self.send = send
        self.send_preview = send_preview
        self._client_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="atelier-worker", daemon=True)
        self.on_idle: list[Callable[[], None]] = []  # e.g. free memory requested by /free
        executor.emit = self._emit
        executor.emit_preview = self._emit_preview

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": self.queue.remaining()}}}

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self._client_id is not None:
            self.send(event, data, self._client_id)
        elif event in BROADCAST_WITHOUT_CLIENT:
            self.send(event, data, None)

    def _emit_preview(self, image: Any, prompt_id: str, node_id: str) -> None:
        self.send_preview(image, self._client_id, prompt_id, node_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(timeout=0.5)
            if item is None:
                for action in self.on_idle:
                    action()
                continue
            self.send("status", self.status(), None)
            self.run_item(item)
            self.send("status", self.status(), None)

    def run_item(self, item: QueueItem) -> None:
        self._client_id = item.extra_data.get("client_id")
        try:
            outcome = self.executor.execute(item.prompt_id, item.prompt, item.outputs, item.extra_data)
        except Exception as error:  # the worker must survive anything a prompt does
            log.exception("prompt %s crashed the executor", item.prompt_id)
            outcome = ExecutionOutcome("error", messages=[["execution_error", {
                "prompt_id": item.prompt_id, "exception_message": str(error),
                "exception_type": type(error).__name__}]])
        self.queue.task_done(item, history_entry(item, outcome))
        log.info("prompt %s %s in %.2f s", item.prompt_id, outcome.status, outcome.seconds)
        self._emit("executing", {"node": None, "prompt_id": item.prompt_id})
        self._client_id = None


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
