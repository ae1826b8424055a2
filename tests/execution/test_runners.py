"""The executor seam: the worker leases prompts to its runners, requeues a prompt whose runner died, records who
ran what, and routes interrupts and /free; dataset runs are split into shard prompts and finished shards recorded."""

from __future__ import annotations

import threading

import pytest

from core.folders import Folders
from core.registry import Registry
from core.shards import ALL_SHARDS, REPORT_SHARD, run_key
from execution.events import EventHub
from execution.executor import ExecutionOutcome
from execution.queue import SHARD_EXTRA, PromptQueue, QueueItem
from execution.runner import LocalRunner, WorkerLost
from execution.shards import ShardingError, plan_shards, shard_prompt
from execution.store import PromptStore
from execution.worker import MAX_LOSSES, Worker
from nodes.api import Int, Node, Output
from tests.execution.counting_nodes import make_registry
from tests.execution.test_worker import wait_for
from tests.harness import Harness


class FlakyRunner:
    """A local runner that dies (raises WorkerLost) the first ``deaths`` times it is handed a prompt."""

    def __init__(self, inner: LocalRunner, name: str, deaths: int) -> None:
        self.inner, self.name, self.deaths = inner, name, deaths
        self.interrupts = 0
        self.freed: list[tuple[bool, bool]] = []

    def info(self) -> dict:
        return {"name": self.name, "kind": "test"}

    def start(self) -> None:
        pass

    def run(self, item: QueueItem, events: EventHub) -> ExecutionOutcome:
        if self.deaths > 0:
            self.deaths -= 1
            raise WorkerLost(f"{self.name} died")
        return self.inner.run(item, events)

    def interrupt(self, prompt_id: str) -> None:
        self.interrupts += 1

    def free(self, unload_models: bool, free_memory: bool) -> None:
        self.freed.append((unload_models, free_memory))

    def close(self) -> None:
        pass


def number_prompt(harness: Harness, value: int):
    return harness.validate({"1": {"class_type": "Number", "inputs": {"value": value}},
                             "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}})


@pytest.fixture
def parts(tmp_path):
    harness = Harness(Folders.under(tmp_path), make_registry())
    store = PromptStore(tmp_path / "queue.sqlite3")
    yield harness, store, PromptQueue(store)
    store.close()


def test_a_prompt_whose_runner_dies_is_queued_again_and_recorded_with_the_runner_that_finished_it(parts):
    harness, store, queue = parts
    dying = FlakyRunner(LocalRunner(harness.executor), "dies", deaths=10)
    steady = FlakyRunner(LocalRunner(harness.executor), "steady", deaths=0)
    worker = Worker(queue, [dying, steady], EventHub())
    prompt = number_prompt(harness, 5)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    try:
        wait_for(lambda: "p" in store.history())
    finally:
        worker.stop()
    entry = store.history()["p"]
    assert entry["outputs"] == {"2": {"values": [5]}}
    assert entry["worker"] == {"name": "steady", "kind": "test"}


def test_a_prompt_that_kills_every_worker_is_recorded_as_an_error_after_a_few_tries(parts):
    harness, store, queue = parts
    runner = FlakyRunner(LocalRunner(harness.executor), "dies", deaths=100)
    worker = Worker(queue, [runner], EventHub())
    prompt = number_prompt(harness, 1)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    try:
        wait_for(lambda: "p" in store.history())
    finally:
        worker.stop()
    assert runner.deaths == 100 - MAX_LOSSES
    assert store.history()["p"]["status"]["status_str"] == "error"
    assert queue.remaining() == 0


def test_a_requeued_prompt_is_pending_in_the_store(parts, tmp_path):
    harness, store, queue = parts
    prompt = number_prompt(harness, 2)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    item = queue.get(timeout=1, worker="w1")
    assert queue.running_on() == {"p": "w1"}
    queue.requeue(item)
    assert queue.running_on() == {} and queue.snapshot()[1][0][1] == "p"
    assert PromptQueue(PromptStore(tmp_path / "queue.sqlite3")).snapshot()[1][0][1] == "p"


def test_interrupts_and_free_requests_reach_the_right_runners(parts):
    harness, store, queue = parts
    release = threading.Event()

    class Blocking(FlakyRunner):
        def run(self, item, events):
            release.wait(10)
            return self.inner.run(item, events)

    busy = Blocking(LocalRunner(harness.executor), "busy", 0)
    idle = FlakyRunner(LocalRunner(harness.executor), "idle", 0)
    worker = Worker(queue, [busy], EventHub())
    worker.add_runners([idle])
    prompt = number_prompt(harness, 3)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    try:
        wait_for(lambda: "p" in queue.running_on())
        running_slot = next(slot for slot in worker.slots if slot.current is not None)
        worker.interrupt("another prompt")
        assert busy.interrupts + idle.interrupts == 0
        worker.interrupt("p")
        assert running_slot.runner.interrupts == 1
        worker.request_free(True, False)
        release.set()
        wait_for(lambda: "p" in store.history())
        wait_for(lambda: busy.freed and idle.freed)
    finally:
        release.set()
        worker.stop()
    assert busy.freed == [(True, False)] and idle.freed == [(True, False)]


class Items(Node):
    """A dataset node for the tests: ``size`` items in shards of ``shard_size``."""

    inputs = [Int("size", 10, min=0, max=1000), Int("shard_size", 4, min=0, max=1000),
              Int("shard", ALL_SHARDS, min=-1, max=1000)]
    outputs = [Output("INT")]

    def execute(self, size: int, shard_size: int, shard: int) -> tuple:
        return (shard,)

    @classmethod
    def shard_count(cls, folders, size=0, shard_size=0, shard=ALL_SHARDS, **_):
        return -(-size // shard_size) if shard_size else 1


def dataset_registry() -> Registry:
    registry = make_registry()
    registry.add(Items.definition())
    return registry


def test_a_dataset_prompt_is_planned_as_one_prompt_per_shard_leaving_out_finished_ones(tmp_path):
    registry, folders = dataset_registry(), Folders.under(tmp_path)
    prompt = {"1": {"class_type": "Items", "inputs": {"size": 10, "shard_size": 4, "shard": ALL_SHARDS}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    plan = plan_shards(registry, folders, prompt, lambda run, shards: set())
    assert (plan.node_id, plan.shards, plan.todo, plan.run) == ("1", 3, [0, 1, 2], run_key(prompt))
    busy = plan_shards(registry, folders, prompt, lambda run, shards: set(), lambda run: {1})
    assert busy.todo == [0, 2]  # a shard queued or running now is not queued again
    assert shard_prompt(prompt, "1", 2)["1"]["inputs"]["shard"] == 2 and prompt["1"]["inputs"]["shard"] == -1
    resumed = plan_shards(registry, folders, prompt, lambda run, shards: {0, 2} if run == plan.run else set())
    assert (resumed.todo, resumed.done) == ([1], [0, 2])
    finished = plan_shards(registry, folders, prompt, lambda run, shards: {0, 1, 2})
    assert finished.todo == []  # every shard is recorded: only the report is due
    one = {**prompt, "1": {"class_type": "Items", "inputs": {"size": 3, "shard_size": 4, "shard": ALL_SHARDS}}}
    assert plan_shards(registry, folders, one, lambda run, shards: set()) is None
    pinned = {**prompt, "1": {"class_type": "Items", "inputs": {"size": 10, "shard_size": 4, "shard": 1}}}
    assert plan_shards(registry, folders, pinned, lambda run, shards: set()) is None
    two = {**prompt, "3": dict(prompt["1"])}
    with pytest.raises(ShardingError, match="#1, #3"):
        plan_shards(registry, folders, two, lambda run, shards: set())


def finish(queue: PromptQueue, completed: bool) -> None:
    queue.task_done(queue.get(timeout=1), {"status": {"completed": completed}, "worker": {"name": "w"}})


def test_the_last_shard_to_finish_queues_the_report_prompt_once(tmp_path):
    store = PromptStore(tmp_path / "queue.sqlite3")
    queue = PromptQueue(store)
    prompt = {"1": {"class_type": "Items", "inputs": {"size": 8, "shard_size": 4, "shard": 0}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    marker = {"run": "r", "shards": 2, "node": "1", "report": "the-report"}
    for prompt_id, shard in (("a", 0), ("b", 1)):
        queue.put(prompt_id, 10 + shard, shard_prompt(prompt, "1", shard), {"client_id": "c",
                  SHARD_EXTRA: {**marker, "shard": shard}}, ["2"])
    finish(queue, completed=False)  # shard 0 failed: not recorded, no report
    assert store.finished_shards("r", 2) == set() and queue.remaining() == 1
    queue.put("a2", 12, shard_prompt(prompt, "1", 0), {"client_id": "c", SHARD_EXTRA: {**marker, "shard": 0}}, ["2"])
    finish(queue, completed=True)  # shard 1
    assert queue.snapshot()[1][0][1] == "a2"
    queue.put("later", 50, prompt, {}, ["2"])
    finish(queue, completed=True)  # shard 0 again: the run is complete
    assert store.finished_shards("r", 2) == {0, 1}
    assert store.finished_shards("r", 3) == set()  # the same run split differently is another run
    report, later = queue.snapshot()[1]  # the report goes before prompts queued after the run
    _, prompt_id, report_prompt, extra, outputs = report
    assert (prompt_id, report_prompt["1"]["inputs"]["shard"], outputs) == ("the-report", REPORT_SHARD, ["2"])
    assert later[1] == "later" and extra["client_id"] == "c" and extra[SHARD_EXTRA]["shard"] == REPORT_SHARD
    finish(queue, completed=True)  # the report itself is not a shard
    assert queue.remaining() == 1 and "the-report" in store.history()
    store.close()


def test_an_interrupt_that_comes_before_the_executor_starts_is_not_lost(parts):
    harness, store, queue = parts
    release = threading.Event()

    class Starting(FlakyRunner):  # a worker process still starting when the user interrupts
        def run(self, item, events):
            release.wait(10)
            return self.inner.run(item, events)

        def interrupt(self, prompt_id):
            self.inner.interrupt(prompt_id)

    worker = Worker(queue, [Starting(LocalRunner(harness.executor), "starting", 0)], EventHub())
    prompt = number_prompt(harness, 4)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    try:
        wait_for(lambda: "p" in queue.running_on())
        worker.interrupt("p")
        release.set()
        wait_for(lambda: "p" in store.history())
    finally:
        release.set()
        worker.stop()
    assert store.history()["p"]["status"]["messages"][-1][0] == "execution_interrupted"


def test_an_interrupt_names_its_prompt_so_a_late_one_spares_the_next(parts):
    harness, store, queue = parts
    flag = harness.executor.interrupt
    flag.begin("b")
    flag.set("a")  # sent while "a" ran, delivered after "b" started
    assert not flag.is_set()
    flag.end()
    flag.set("c")  # before "c" starts: it survives the start of "c" only
    flag.begin("c")
    assert flag.is_set()
    flag.end()
    flag.begin("d")
    assert not flag.is_set()
    flag.set()  # an interrupt naming no prompt stops whatever runs, as ComfyUI's
    assert flag.is_set()


def test_a_runner_that_cannot_start_costs_no_prompt_and_says_why(parts, monkeypatch):
    harness, store, queue = parts
    monkeypatch.setattr("execution.worker.START_RETRY", 0.01)

    class Unstartable(FlakyRunner):  # a worker process whose plug-ins fail to import
        starts = 0

        def start(self):
            self.starts += 1
            raise RuntimeError("worker-0 failed to start: ImportError: no module named 'missing'")

        def run(self, item, events):
            self.start()
            return self.inner.run(item, events)

    runner = Unstartable(LocalRunner(harness.executor), "broken", 0)
    worker = Worker(queue, [runner], EventHub())
    prompt = number_prompt(harness, 6)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    try:
        wait_for(lambda: runner.starts >= MAX_LOSSES + 2)
        described = worker.describe()[0]
    finally:
        worker.stop()
    assert "p" not in store.history() and queue.snapshot()[1][0][1] == "p"  # still waiting for a worker
    assert "no module named 'missing'" in described["error"]


def test_a_prompt_cut_short_by_a_shutdown_stays_queued(parts, tmp_path):
    harness, store, queue = parts
    started, stopped = threading.Event(), threading.Event()

    class UntilInterrupted(FlakyRunner):
        def run(self, item, events):
            started.set()
            stopped.wait(10)
            return ExecutionOutcome("interrupted")

        def interrupt(self, prompt_id):
            stopped.set()

    worker = Worker(queue, [UntilInterrupted(LocalRunner(harness.executor), "busy", 0)], EventHub())
    prompt = number_prompt(harness, 7)
    queue.put("p", 0, prompt.prompt, {}, prompt.good_outputs)
    worker.start()
    started.wait(10)
    assert worker.stop()
    assert "p" not in store.history()
    assert PromptQueue(PromptStore(tmp_path / "queue.sqlite3")).snapshot()[1][0][1] == "p"  # runs at the next start
