"""The worker thread: it runs queued prompts in order and outlives whatever a prompt or a plug-in does."""

from __future__ import annotations

import time

from core.folders import Folders
from core.registry import Registry
from execution.events import EventHub
from execution.queue import PromptQueue
from execution.runner import LocalRunner
from execution.store import PromptStore
from execution.worker import Worker
from nodes.comfy_v1 import definition_from_v1
from tests.execution.counting_nodes import make_registry
from tests.harness import Harness


class OddUI:
    """A V1 node whose UI output is no JSON (a set), as careless plug-ins return."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self):
        return {"ui": {"values": [{1, 2}]}}


def registry() -> Registry:
    registry = make_registry()
    registry.add(definition_from_v1("OddUI", OddUI, None, "tests"))
    return registry


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_prompt_with_an_odd_ui_value_is_recorded_and_the_next_prompt_runs(tmp_path):
    harness = Harness(Folders.under(tmp_path), registry())
    store = PromptStore(tmp_path / "queue.sqlite3")
    queue = PromptQueue(store)
    worker = Worker(queue, [LocalRunner(harness.executor)], EventHub())
    odd = harness.validate({"1": {"class_type": "OddUI", "inputs": {}}})
    plain = harness.validate({"1": {"class_type": "Number", "inputs": {"value": 4}},
                              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}})
    queue.put("odd", 0, odd.prompt, {}, odd.good_outputs)
    queue.put("plain", 1, plain.prompt, {}, plain.good_outputs)
    worker.start()
    try:
        wait_for(lambda: {"odd", "plain"} <= set(store.history()))
    finally:
        assert worker.stop()
        store.close()
    history = PromptStore(tmp_path / "queue.sqlite3").history()
    assert history["plain"]["outputs"] == {"2": {"values": [4]}}
    assert history["odd"]["outputs"]["1"]["values"] == ["{1, 2}"]
