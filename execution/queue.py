"""The prompt queue: lowest ``number`` first (``front`` negates it), leased by the worker's runners, mirrored in the
store."""

from __future__ import annotations

import heapq
import math
import threading
from dataclasses import dataclass
from typing import Any

from core.shards import REPORT_SHARD
from execution.shards import shard_prompt
from execution.store import PromptStore

SECRET_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
# extra_data of a dataset run's shard and report prompts: {"run", "shard", "shards", "node", "report"}, where "node"
# is the dataset node and "report" the prompt id of the report prompt queued once every shard has finished
SHARD_EXTRA = "atelier_shard"


@dataclass(order=True)
class QueueItem:
    number: float
    seq: int
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]

    def as_list(self) -> list[Any]:
        """ComfyUI's positional queue item ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""
        number = int(self.number) if float(self.number).is_integer() else self.number
        return [number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


class PromptQueue:
    def __init__(self, store: PromptStore) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._heap: list[QueueItem] = []
        self._running: dict[str, QueueItem] = {}
        self._leased_by: dict[str, str] = {}  # running prompt id -> the runner that leased it
        self._seq = 0
        self._counter = -1
        self._restore()

    def _restore(self) -> None:
        for item, seq in self.store.queued_items():
            number, prompt_id, prompt, extra_data, outputs = item
            heapq.heappush(self._heap, QueueItem(float(number), seq, prompt_id, prompt, extra_data, outputs))
            self._seq = max(self._seq, seq + 1)
            if math.isfinite(float(number)):  # a stored non-finite number must not stop a restart
                self._counter = max(self._counter, int(abs(float(number))))

    def next_number(self) -> int:
        """The next priority number for a prompt queued at the back (ComfyUI's server counter)."""
        with self._cond:
            self._counter += 1
            return self._counter

    def peek_number(self) -> int:
        """The number ``next_number`` gives next, without taking it (ComfyUI's ``PromptServer.number``)."""
        with self._cond:
            return self._counter + 1

    def put(self, prompt_id: str, number: float, prompt: dict[str, Any], extra_data: dict[str, Any],
            outputs: list[str]) -> QueueItem:
        stored_extra = {key: value for key, value in extra_data.items() if key not in SECRET_KEYS}
        with self._cond:
            item = QueueItem(float(number), self._seq, prompt_id, prompt, stored_extra, outputs)
            self._seq += 1
            self.store.add_pending(prompt_id, item.number, item.as_list(), item.seq)
            heapq.heappush(self._heap, item)
            self._cond.notify()
        return item

    def get(self, timeout: float | None = None, worker: str = "local") -> QueueItem | None:
        """Lease the next prompt to ``worker`` (recorded in the store), waiting up to ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._heap, timeout=timeout):
                return None
            item = heapq.heappop(self._heap)
            self._running[item.prompt_id] = item
            self._leased_by[item.prompt_id] = worker
            self.store.mark_running(item.prompt_id, worker)
            return item

    def requeue(self, item: QueueItem) -> None:
        """A leased prompt that did not finish (its worker died) goes back in its place in the queue."""
        with self._cond:
            self._running.pop(item.prompt_id, None)
            self._leased_by.pop(item.prompt_id, None)
            self.store.mark_pending(item.prompt_id)
            heapq.heappush(self._heap, item)
            self._cond.notify()

    def task_done(self, item: QueueItem, entry: dict[str, Any]) -> None:
        """Record a finished prompt. A dataset shard that succeeded is also recorded as done for its run, and the
        last one to finish queues the run's report prompt at the front (once: these steps hold the queue's lock)."""
        shard = item.extra_data.get(SHARD_EXTRA)
        finished = shard if entry.get("status", {}).get("completed") and shard and shard["shard"] >= 0 else None
        with self._cond:
            self.store.finish(item.prompt_id, entry, finished)
            self._running.pop(item.prompt_id, None)
            self._leased_by.pop(item.prompt_id, None)
            if finished is not None and self.store.finished_shards(finished["run"], finished["shards"]) == set(
                    range(finished["shards"])):
                self._queue_report(item, finished)

    def _queue_report(self, shard_item: QueueItem, shard: dict[str, Any]) -> None:
        report_id = str(shard["report"])
        if report_id in self._running or any(queued.prompt_id == report_id for queued in self._heap):
            return
        if self.store.history_entry(report_id) is not None:
            return  # a shard re-run by hand after its run was reported
        prompt = shard_prompt(shard_item.prompt, str(shard["node"]), REPORT_SHARD)
        extra = {**shard_item.extra_data, SHARD_EXTRA: {**shard, "shard": REPORT_SHARD}}
        self.put(report_id, -self.next_number(), prompt, extra, shard_item.outputs)

    def run_in_queue(self, run: str) -> tuple[set[int], str | None]:
        """The shards of dataset run ``run`` queued or running now, and the report prompt they will queue."""
        with self._cond:
            shards = [item.extra_data[SHARD_EXTRA] for item in [*self._heap, *self._running.values()]
                      if item.extra_data.get(SHARD_EXTRA, {}).get("run") == run]
        return {int(shard["shard"]) for shard in shards}, (str(shards[0]["report"]) if shards else None)

    def snapshot(self) -> tuple[list[list[Any]], list[list[Any]]]:
        with self._cond:
            running = [item.as_list() for item in self._running.values()]
            pending = [item.as_list() for item in sorted(self._heap)]
        return running, pending

    def remaining(self) -> int:
        with self._cond:
            return len(self._heap) + len(self._running)

    def running_ids(self) -> list[str]:
        with self._cond:
            return list(self._running)

    def running_on(self) -> dict[str, str]:
        """Which runner leased each running prompt."""
        with self._cond:
            return dict(self._leased_by)

    def delete(self, prompt_ids: list[str]) -> None:
        wanted = {str(prompt_id) for prompt_id in prompt_ids}
        with self._cond:
            self._heap = [item for item in self._heap if item.prompt_id not in wanted]
            heapq.heapify(self._heap)
            for prompt_id in wanted:
                if prompt_id not in self._running:
                    self.store.remove_pending(prompt_id)

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self.store.clear_pending()
