"""The worker: one thread per runner, each leasing the next prompt from the queue, running it and recording its
history with the runner that ran it. A prompt whose runner died goes back to the queue (``WorkerLost``)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from execution.events import EventHub, PromptEvents
from execution.executor import ExecutionOutcome
from execution.queue import PromptQueue, QueueItem
from execution.runner import PromptRunner, WorkerLost

log = logging.getLogger(__name__)

MAX_LOSSES = 3  # a prompt that kills its worker this often is recorded as an error instead of retried forever
LOSS_BACKOFF = 1.0  # seconds a runner whose worker died waits before leasing again, so a live one takes the prompt
START_RETRY = 2.0  # seconds before starting a runner that failed to start again, doubling up to MAX_START_RETRY
MAX_START_RETRY = 300.0


@dataclass
class FreeRequest:
    """What ``POST /free`` asked of one runner; requests add up until it is idle."""

    unload_models: bool = False
    free_memory: bool = False

    def __bool__(self) -> bool:
        return self.unload_models or self.free_memory


class RunnerSlot:
    """One runner and the thread that feeds it prompts."""

    def __init__(self, worker: Worker, runner: PromptRunner) -> None:
        self.worker = worker
        self.runner = runner
        self.current: QueueItem | None = None
        self.free_request = FreeRequest()
        self.error: str | None = None  # why the runner failed to start, until it starts
        self._retry = START_RETRY
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=f"atelier-{runner.name}", daemon=True)

    def _loop(self) -> None:
        while not self.worker.stopping.is_set():
            try:
                self._step()
            except Exception:  # the worker must outlive anything a prompt, a runner or the store does
                log.exception("runner %s recovered from an error between prompts", self.runner.name)

    def _step(self) -> None:
        self._free_if_requested()
        if not self._started():
            return
        item = self.worker.queue.get(timeout=0.5, worker=self.runner.name)
        if item is None:
            return
        with self.lock:  # stop() sets stopping, then interrupts under this lock: the item is either seen or put back
            if self.worker.stopping.is_set():
                self.worker.queue.requeue(item)
                return
            self.current = item
        try:
            requeued = self.worker.run_item(self.runner, item)
        finally:
            with self.lock:
                self.current = None
        if requeued:
            self.worker.stopping.wait(LOSS_BACKOFF)

    def _started(self) -> bool:
        """Start the runner (again, when its worker died) before it leases a prompt, so a worker that cannot start
        costs no prompt a try; it is tried again after a growing pause, its error shown in /atelier/workers."""
        try:
            self.runner.start()
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            log.error("runner %s cannot start (%s); trying again in %.0f s", self.runner.name, self.error, self._retry)
            self.worker.stopping.wait(self._retry)
            self._retry = min(2 * self._retry, MAX_START_RETRY)
            return False
        self.error, self._retry = None, START_RETRY
        return True

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        with self.lock:
            self.free_request.unload_models |= unload_models
            self.free_request.free_memory |= free_memory

    def _free_if_requested(self) -> None:
        with self.lock:
            request, self.free_request = self.free_request, FreeRequest()
        if request:
            self.runner.free(request.unload_models, request.free_memory)

    def interrupt(self, prompt_id: str | None) -> None:
        """Interrupt the prompt this slot runs if it is ``prompt_id`` (None: whichever it is)."""
        with self.lock:
            running = self.current
            if running is not None and prompt_id in (None, running.prompt_id):
                self.runner.interrupt(running.prompt_id)


class Worker:
    def __init__(self, queue: PromptQueue, runners: list[PromptRunner], events: EventHub) -> None:
        self.queue = queue
        self.events = events
        self.stopping = threading.Event()
        self.slots = [RunnerSlot(self, runner) for runner in runners]
        self._losses: dict[str, int] = {}

    def add_runners(self, runners: list[PromptRunner]) -> None:
        """Runners join before ``start`` (the runtime builds them once its plug-ins are loaded)."""
        self.slots.extend(RunnerSlot(self, runner) for runner in runners)

    @property
    def runners(self) -> list[PromptRunner]:
        return [slot.runner for slot in self.slots]

    def start(self) -> None:
        for slot in self.slots:
            slot.thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Interrupt the running prompts, stop, and wait up to ``timeout`` seconds; whether every thread stopped.
        A prompt cut short stays queued (it runs again at the next start)."""
        self.stopping.set()
        for slot in self.slots:
            slot.interrupt(None)
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.thread.is_alive():
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(slot.thread.is_alive() for slot in self.slots)
        for slot in self.slots:
            slot.runner.close()
        return stopped

    def status(self) -> dict[str, Any]:
        return {"status": {"exec_info": {"queue_remaining": self.queue.remaining()}}}

    def interrupt(self, prompt_id: str | None = None) -> None:
        """``POST /interrupt``: the given prompt where it runs, or every running prompt."""
        for slot in self.slots:
            slot.interrupt(prompt_id)

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        for slot in self.slots:
            slot.request_free(unload_models, free_memory)

    def describe(self) -> list[dict[str, Any]]:
        """Every runner with the prompt it runs now (``/atelier/workers``)."""
        described = []
        for slot in self.slots:
            with slot.lock:
                running = slot.current.prompt_id if slot.current is not None else None
            described.append({**slot.runner.info(), "running": running, "error": slot.error})
        return described

    def run_item(self, runner: PromptRunner, item: QueueItem) -> bool:
        """Run and record ``item``; True when it went back to the queue instead (its worker died)."""
        self.events.send("status", self.status())
        try:
            outcome = runner.run(item, self.events)
        except WorkerLost as lost:
            if self._lost(runner, item, lost):
                return True
            outcome = _error_outcome(item, lost)
        except Exception as error:  # the worker must survive anything a prompt does
            log.exception("prompt %s crashed the executor", item.prompt_id)
            outcome = _error_outcome(item, error)
        if outcome.status == "interrupted" and self.stopping.is_set():
            log.info("prompt %s was cut short by the shutdown; it stays queued", item.prompt_id)
            self.queue.requeue(item)
            return True
        self._losses.pop(item.prompt_id, None)
        self.queue.task_done(item, history_entry(item, outcome, runner.info()))
        log.info("prompt %s %s in %.2f s on %s", item.prompt_id, outcome.status, outcome.seconds, runner.name)
        PromptEvents(self.events, item.extra_data.get("client_id")).emit(
            "executing", {"node": None, "prompt_id": item.prompt_id})
        self.events.send("status", self.status())
        return False

    def _lost(self, runner: PromptRunner, item: QueueItem, lost: WorkerLost) -> bool:
        """Put a prompt whose worker died back in the queue; False once it has killed workers MAX_LOSSES times."""
        losses = self._losses.get(item.prompt_id, 0) + 1
        self._losses[item.prompt_id] = losses
        if losses >= MAX_LOSSES and not self.stopping.is_set():
            log.error("prompt %s lost its worker %d times (last: %s on %s)", item.prompt_id, losses, lost,
                      runner.name)
            return False
        log.warning("prompt %s lost its worker %s (%s); it is queued again", item.prompt_id, runner.name, lost)
        self.queue.requeue(item)
        self.events.send("status", self.status())
        return True


def _error_outcome(item: QueueItem, error: BaseException) -> ExecutionOutcome:
    return ExecutionOutcome("error", messages=[["execution_error", {
        "prompt_id": item.prompt_id, "exception_message": str(error), "exception_type": type(error).__name__}]])


def history_entry(item: QueueItem, outcome: ExecutionOutcome, worker: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    entry = {
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
    if worker is not None:
        entry["worker"] = worker  # Atelier's addition: which runner (process, Ray actor, device) ran it
    return entry
