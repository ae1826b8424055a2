"""``--workers N``: real worker processes on this machine, each with its own runtime, fed from the server's queue."""

from __future__ import annotations

import os
import threading
import time

import pytest

from core.folders import Folders
from execution.events import EventHub
from execution.executor import ExecutionOutcome
from execution.queue import QueueItem
from execution.runner import WorkerLost
from runtime.process_workers import ProcessRunner, visible_gpu
from runtime.settings import Settings
from tests.conftest import serve, stop_server
from tests.runtime.worker_helpers import PACK, die_once, queue, wait_for_history, who_runs
from tests.server.api_client import get_json, http, run_prompt


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("workers"), "--workers", "2", "--custom-nodes-dir", str(PACK))
    yield running
    stop_server(running)


def test_prompts_spread_over_two_worker_processes_and_history_names_them(two_workers):
    url = two_workers.url
    ids = [queue(url, who_runs(0.8, tag)) for tag in range(4)]
    history = wait_for_history(url, ids)
    workers = {entry["worker"]["name"] for entry in history.values()}
    pids = {entry["outputs"]["1"]["pid"][0] for entry in history.values()}
    assert workers == {"worker-0", "worker-1"}
    assert len(pids) == 2 and os.getpid() not in pids
    for entry in history.values():  # the history names the process that really ran it
        assert entry["worker"]["pid"] == entry["outputs"]["1"]["pid"][0]
    described = get_json(url + "/atelier/workers")["workers"]
    assert [worker["name"] for worker in described] == ["worker-0", "worker-1"]


def test_a_worker_that_dies_mid_prompt_loses_nothing(two_workers, tmp_path):
    url = two_workers.url
    marker = tmp_path / "died"
    dying = queue(url, die_once(marker))
    after = queue(url, who_runs(0.0, 99))
    history = wait_for_history(url, [dying, after])
    killed_pid = int(marker.read_text())
    assert history[dying]["status"]["status_str"] == "success"
    assert history[dying]["outputs"]["1"]["pid"][0] != killed_pid  # ran again, in a live process
    assert history[after]["status"]["status_str"] == "success"
    assert "lost its worker" in two_workers.log() and "queued again" in two_workers.log()


def test_progress_and_interrupts_cross_the_process_boundary(two_workers):
    url, ws_url = two_workers.url, two_workers.ws_url
    _, messages, _ = run_prompt(url, ws_url, {"1": {"class_type": "SlowSteps", "inputs": {"steps": 3,
                                                                                          "seconds": 0.05}}})
    progress = [m["data"]["value"] for m in messages if m["type"] == "progress"]
    assert progress == [1, 2, 3]
    assert any(m["type"] == "executed" and m["data"]["output"] == {"steps": [3]} for m in messages)

    long_id = queue(url, {"1": {"class_type": "SlowSteps", "inputs": {"steps": 400, "seconds": 0.05}}})
    deadline = time.monotonic() + 60
    while long_id not in get_json(url + "/queue")["running_on"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    threading.Timer(0.5, lambda: http(url + "/interrupt", {"prompt_id": long_id})).start()
    entry = wait_for_history(url, [long_id], timeout=60)[long_id]
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


def test_a_worker_process_that_cannot_start_says_why(tmp_path):
    (tmp_path / "user").write_text("a file where the user folder should be")
    runner = ProcessRunner(Settings(Folders.under(tmp_path)), "worker-9", None, 1)
    with pytest.raises(WorkerLost, match="worker-9 failed to start: FileExistsError: .*user"):
        runner.start()


def test_a_worker_process_sees_the_gpu_the_server_numbered():
    assert visible_gpu(1, {}) == "1"
    assert visible_gpu(0, {"CUDA_VISIBLE_DEVICES": "2,3"}) == "2"  # the server was given GPUs 2 and 3
    assert visible_gpu(1, {"CUDA_VISIBLE_DEVICES": "GPU-aa, GPU-bb"}) == "GPU-bb"


class FakeProcess:
    def __init__(self) -> None:
        self.killed = False

    def is_alive(self) -> bool:
        return not self.killed

    def kill(self) -> None:
        self.killed = True

    def join(self, timeout: float | None = None) -> None:
        pass


class FakePipe:
    """A worker's pipe whose second message cannot be read (a plug-in's class the server cannot unpickle)."""

    def __init__(self, messages: list) -> None:
        self.messages = messages

    def send(self, message) -> None:
        pass

    def recv(self):
        message = self.messages.pop(0)
        if isinstance(message, Exception):
            raise message
        return message


def test_a_message_that_cannot_be_read_ends_the_worker_process_so_the_next_prompt_is_not_given_its_outcome(tmp_path):
    runner = ProcessRunner(Settings(Folders.under(tmp_path)), "worker-0", None, 1)
    process = FakeProcess()
    outcome_of_the_first = ("outcome", ExecutionOutcome("success"))
    runner._process, runner._conn = process, FakePipe([("event", "executing", {"node": "1"}, None),
                                                       AttributeError("Can't get attribute 'Odd'"),
                                                       outcome_of_the_first])
    item = QueueItem(0, 0, "p", {}, {}, [])
    with pytest.raises(AttributeError, match="Odd"):
        runner.run(item, EventHub())
    assert process.killed and runner._process is None  # the next prompt starts a fresh process
